-- depends: 0008_tenant_lifecycle
-- What a tenant's answers cost, per day (UTC): kept up to date by each answer's closing write
-- (`messages.finish_reply`). Tokens are the upstream's `usage`; an answer without one is
-- estimated from its characters and counted in estimated_answers. A day is kept in 16 rows
-- (`shard`, from the answer's id), summed by readers: concurrent closing writes of one busy
-- tenant would otherwise queue on one row lock, each waiting for the previous commit.
CREATE TABLE tenant_usage (
    tenant_id         uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    day               date NOT NULL,
    shard             smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    answers           integer NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    estimated_answers integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, shard)
);
-- A tenant with quotas, its month (its first day, UTC): answers are reserved before the
-- upstream is called (one conditional statement, so the answer quota is exact under
-- concurrency) and given back when an answer is discarded before it started; its tokens are
-- the month's `tenant_usage`. warned_at: when the quota warning went out this month.
CREATE TABLE tenant_quota_month (
    tenant_id        uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    month            date NOT NULL,
    answers_reserved integer NOT NULL DEFAULT 0,
    warned_at        timestamptz,
    PRIMARY KEY (tenant_id, month)
);
