-- depends: 0003_unlogged_rate_counter
-- An address registered more than once before it was confirmed has no password until the
-- owner of the mailbox chooses one through a mailed link: which registration was the owner's
-- cannot be told, and confirming any of them could activate a password the owner never set.
-- A confirmed account always has a password.
ALTER TABLE account ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE account ADD CONSTRAINT account_confirmed_has_password
    CHECK (password_hash IS NOT NULL OR email_confirmed_at IS NULL);

-- Unconfirmed accounts that were sent more than one confirmation link may have been registered
-- more than once already: the same rule applies to them. Their links stop working, and a new
-- one ("resend") leads to choosing the password.
WITH doubtful AS (
    SELECT account.tenant_id, account.id
    FROM account
    JOIN account_token AS token
      ON token.tenant_id = account.tenant_id AND token.account_id = account.id
    WHERE account.email_confirmed_at IS NULL AND token.purpose = 'confirm_email'
    GROUP BY account.tenant_id, account.id
    HAVING count(*) > 1
), voided AS (
    UPDATE account_token AS token
    SET used_at = now()
    FROM doubtful
    WHERE token.tenant_id = doubtful.tenant_id AND token.account_id = doubtful.id
      AND token.purpose = 'confirm_email' AND token.used_at IS NULL
)
UPDATE account
SET password_hash = NULL
FROM doubtful
WHERE account.tenant_id = doubtful.tenant_id AND account.id = doubtful.id;
