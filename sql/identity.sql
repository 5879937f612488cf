-- name: account_auth_state
-- What identity resolution needs to know about an account id in a tenant.
SELECT id, password_changed_at
FROM account
WHERE tenant_id = $1 AND id = $2;
