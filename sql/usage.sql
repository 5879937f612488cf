-- name: reserve_answer
-- One answer of this month's for the tenant, taken only while the month is under its quotas
-- (0: none): the row is locked by the update, so concurrent reservations queue on it and each
-- sees the others' (the answer quota is exact); the tokens are the month's usage so far. No
-- row: the tenant is past a quota.
WITH month AS (
    SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS first
), used AS (
    SELECT COALESCE(sum(usage.prompt_tokens + usage.completion_tokens), 0) AS tokens
    FROM tenant_usage AS usage, month
    WHERE usage.tenant_id = :tenant_id AND usage.day >= month.first
)
INSERT INTO tenant_quota_month AS quota (tenant_id, month, answers_reserved)
SELECT :tenant_id, month.first, 1
FROM month, used
WHERE :token_quota::bigint = 0 OR used.tokens < :token_quota::bigint
ON CONFLICT (tenant_id, month) DO UPDATE
SET answers_reserved = quota.answers_reserved + 1
WHERE quota.tenant_id = :tenant_id
  AND (:answer_quota::integer = 0 OR quota.answers_reserved < :answer_quota::integer)
RETURNING answers_reserved, (SELECT tokens FROM used) AS tokens_used,
          warned_at IS NOT NULL AS warned;

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
SELECT day, sum(answers)::integer AS answers, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens,
       sum(estimated_answers)::integer AS estimated_answers
FROM tenant_usage
WHERE tenant_id = :tenant_id AND day BETWEEN :first::date AND :last::date
GROUP BY day
ORDER BY day;
