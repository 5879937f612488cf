-- depends: 0008_tenant_lifecycle
-- What a tenant's answers cost, per day (UTC): kept up to date by each answer's closing write
-- (`messages.finish_reply`). Tokens are the upstream's `usage`; an answer without one is
-- estimated from its characters and counted in estimated_answers.
CREATE TABLE tenant_usage (
    tenant_id         uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    day               date NOT NULL,
    answers           integer NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    estimated_answers integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
-- A tenant's month (its first day, UTC) against its quotas: answers are reserved before the
-- upstream is called (one conditional statement, so the answer quota is exact under
-- concurrency) and given back when an answer is discarded before it started; tokens are added
-- by each answer's closing write. warned_at: when the quota warning went out this month.
CREATE TABLE tenant_quota_month (
    tenant_id        uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    month            date NOT NULL,
    answers_reserved integer NOT NULL DEFAULT 0,
    tokens_used      bigint NOT NULL DEFAULT 0,
    warned_at        timestamptz,
    PRIMARY KEY (tenant_id, month)
);
