-- A visitor's profile in a tenant, with the email of their account when they have one.

-- name: by_user
-- Always one row: NULLs for a profile never written (and for a guest's email).
-- $1 tenant_id, $2 user_id, $3 account_id (NULL for a guest).
SELECT $2::text AS user_id, $1::uuid AS tenant_id, user_profile.display_name,
       user_profile.contact, account.email, user_profile.updated_at
FROM (VALUES (1)) AS one_row
LEFT JOIN user_profile ON user_profile.tenant_id = $1 AND user_profile.user_id = $2
LEFT JOIN account ON account.tenant_id = $1 AND account.id = $3;

-- name: upsert
-- Creates or updates the profile: a field whose flag is false keeps its stored value (NULL
-- on a new row), a field whose flag is true takes the given value (NULL clears it).
-- $1 tenant_id, $2 user_id, $3 account_id, $4 set display_name?, $5 display_name,
-- $6 set contact?, $7 contact.
WITH saved AS (
    INSERT INTO user_profile (tenant_id, user_id, display_name, contact)
    VALUES ($1, $2, CASE WHEN $4 THEN $5 END, CASE WHEN $6 THEN $7 END)
    ON CONFLICT (tenant_id, user_id) DO UPDATE
    SET display_name = CASE WHEN $4 THEN EXCLUDED.display_name ELSE user_profile.display_name END,
        contact = CASE WHEN $6 THEN EXCLUDED.contact ELSE user_profile.contact END,
        updated_at = now()
    RETURNING user_id, tenant_id, display_name, contact, updated_at
)
SELECT saved.user_id, saved.tenant_id, saved.display_name, saved.contact, account.email,
       saved.updated_at
FROM saved
LEFT JOIN account ON account.tenant_id = $1 AND account.id = $3;
