-- name: reserve_answer
-- One answer of this month's for the tenant, taken only while the month is under its quotas
-- (0: none): the row is locked by the update, so concurrent reservations queue on it and each
-- sees the others' (the answer quota is exact). No row: the tenant is past a quota.
INSERT INTO tenant_quota_month AS quota (tenant_id, month, answers_reserved)
VALUES (:tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)
ON CONFLICT (tenant_id, month) DO UPDATE
SET answers_reserved = quota.answers_reserved + 1
WHERE quota.tenant_id = :tenant_id
  AND (:answer_quota::integer = 0 OR quota.answers_reserved < :answer_quota::integer)
  AND (:token_quota::bigint = 0 OR quota.tokens_used < :token_quota::bigint)
RETURNING answers_reserved, tokens_used, warned_at IS NOT NULL AS warned;

-- name: release_answer
-- A reservation given back: the answer it was for was refused before it started.
UPDATE tenant_quota_month
SET answers_reserved = answers_reserved - 1
WHERE tenant_id = :tenant_id AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
  AND answers_reserved > 0;

-- name: mark_warned
-- The month's quota warning, claimed by one instance: the first to set warned_at sends it.
UPDATE tenant_quota_month
SET warned_at = now()
WHERE tenant_id = :tenant_id AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
  AND warned_at IS NULL
RETURNING warned_at;

-- name: usage_days
-- The tenant's usage per day from :first to :last (both included, UTC), oldest first.
SELECT day, answers, prompt_tokens, completion_tokens, estimated_answers
FROM tenant_usage
WHERE tenant_id = :tenant_id AND day BETWEEN :first::date AND :last::date
ORDER BY day;
