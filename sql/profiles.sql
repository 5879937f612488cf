-- A visitor's profile in a tenant, with the email of their account when they have one.

-- name: by_user
-- Always one row: NULLs for a profile never written (and for a guest's email).
SELECT :user_id::text AS user_id, :tenant_id::uuid AS tenant_id, user_profile.display_name,
       user_profile.contact, account.email, user_profile.updated_at
FROM (VALUES (1)) AS one_row
LEFT JOIN user_profile ON user_profile.tenant_id = :tenant_id AND user_profile.user_id = :user_id
LEFT JOIN account ON account.tenant_id = :tenant_id AND account.id = :account_id;

-- name: upsert
-- Creates or updates the profile: a field whose flag is false keeps its stored value (NULL
-- on a new row), a field whose flag is true takes the given value (NULL clears it).
WITH saved AS (
    INSERT INTO user_profile (tenant_id, user_id, display_name, contact)
    VALUES (:tenant_id, :user_id, CASE WHEN :set_display_name THEN :display_name END,
            CASE WHEN :set_contact THEN :contact END)
    ON CONFLICT (tenant_id, user_id) DO UPDATE
    SET display_name = CASE WHEN :set_display_name THEN EXCLUDED.display_name
                            ELSE user_profile.display_name END,
        contact = CASE WHEN :set_contact THEN EXCLUDED.contact ELSE user_profile.contact END,
        updated_at = now()
    RETURNING user_id, tenant_id, display_name, contact, updated_at
)
SELECT saved.user_id, saved.tenant_id, saved.display_name, saved.contact, account.email,
       saved.updated_at
FROM saved
LEFT JOIN account ON account.tenant_id = :tenant_id AND account.id = :account_id;
