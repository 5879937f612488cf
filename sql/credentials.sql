-- Accounts as sign-in sees them (email, password hash, confirmation, the last password change)
-- and their one-time tokens (email confirmation, password reset). An unconfirmed account
-- registered more than once has no password (NULL) until its owner chooses one.

-- name: register
-- Create the account, or find the one that holds the email already (`created` tells which).
-- Under a concurrent registration of the same email the second query may see no row: then
-- nothing is returned and nobody gets a second mail.
WITH created AS (
    INSERT INTO account (tenant_id, email, password_hash)
    VALUES (:tenant_id, :email, :password_hash)
    ON CONFLICT (tenant_id, email) DO NOTHING
    RETURNING id, email, email_confirmed_at
)
SELECT id, email, email_confirmed_at, true AS created FROM created
UNION ALL
SELECT id, email, email_confirmed_at, false AS created
FROM account
WHERE tenant_id = :tenant_id AND email = :email AND NOT EXISTS (SELECT 1 FROM created);

-- name: void_confirmations
-- The account's confirmation links stop working (run before unset_password, in its
-- transaction: tokens are locked before the account, as spend_token does).
UPDATE account_token
SET used_at = now()
WHERE tenant_id = :tenant_id AND account_id = :account_id
  AND purpose = 'confirm_email' AND used_at IS NULL;

-- name: unset_password
-- An unconfirmed account loses its password; nothing when it was confirmed meanwhile.
UPDATE account
SET password_hash = NULL
WHERE tenant_id = :tenant_id AND id = :account_id AND email_confirmed_at IS NULL
RETURNING id;

-- name: by_email
SELECT id, email, email_confirmed_at, password_hash
FROM account
WHERE tenant_id = :tenant_id AND email = :email;

-- name: password_changed_at
-- What identity resolution needs to know of an account id: whether it exists, and since when
-- its tokens are valid.
SELECT password_changed_at
FROM account
WHERE tenant_id = :tenant_id AND id = :account_id;

-- name: accounts_among
-- Which of these ids are the tenant's accounts: guest ids of many requests checked at once.
SELECT id
FROM account
WHERE tenant_id = :tenant_id AND id = ANY(:account_ids::uuid[]);

-- name: create_token
-- A confirmation or reset token; only its SHA-256 is stored.
INSERT INTO account_token (tenant_id, token_hash, account_id, purpose, expires_at)
VALUES (:tenant_id, :token_hash, :account_id, :purpose,
        now() + make_interval(secs => :lifetime_seconds))
RETURNING expires_at;

-- name: token_is_live
-- Whether a token can still be spent; checked before costly work.
SELECT EXISTS (
    SELECT 1 FROM account_token
    WHERE tenant_id = :tenant_id AND token_hash = :token_hash AND purpose = :purpose
      AND used_at IS NULL AND expires_at > now()
);

-- name: spend_token
-- Spend a token once, before it expires, and act on its account in the same statement: either
-- token proves the mail reached its owner, so the email is confirmed; a reset (a new
-- :password_hash) also sets the password and kills the account's other reset links. A
-- confirmation confirms only an account with a password (a link mailed just as the address was
-- registered again would otherwise confirm one without): the token is spent, nothing else.
-- password_changed_at uses the clock, not the transaction start, so every JWT issued before
-- this statement ends up earlier than it.
WITH spent AS (
    UPDATE account_token
    SET used_at = now()
    WHERE tenant_id = :tenant_id AND token_hash = :token_hash AND purpose = :purpose
      AND used_at IS NULL AND expires_at > now()
    RETURNING tenant_id, account_id
), other_resets AS (
    UPDATE account_token AS other
    SET used_at = now()
    FROM spent
    WHERE :password_hash::text IS NOT NULL
      AND other.tenant_id = spent.tenant_id AND other.account_id = spent.account_id
      AND other.purpose = 'reset_password' AND other.used_at IS NULL
      AND other.token_hash <> :token_hash
    RETURNING other.token_hash
)
UPDATE account
SET email_confirmed_at = COALESCE(account.email_confirmed_at, clock_timestamp()),
    password_hash = COALESCE(:password_hash, account.password_hash),
    password_changed_at = CASE WHEN :password_hash IS NULL THEN account.password_changed_at
                               ELSE clock_timestamp() END
FROM spent
WHERE account.tenant_id = spent.tenant_id AND account.id = spent.account_id
  AND (account.password_hash IS NOT NULL OR :password_hash::text IS NOT NULL)
RETURNING account.id, account.email, account.email_confirmed_at;

-- name: prune_tokens
-- Tokens that expired a day ago are of no use, not even for an error message.
DELETE FROM account_token
WHERE expires_at < now() - interval '1 day';
