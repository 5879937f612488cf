-- The full schema. Every tenant-owned table carries tenant_id in its primary key and in every
-- foreign key to another tenant-owned table, so the database itself refuses a row that points
-- into another tenant, and the schema can be distributed by tenant_id unchanged.

CREATE TABLE tenant (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account (
    tenant_id           uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    email               text NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
    password_hash       text NOT NULL,
    email_confirmed_at  timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

-- Confirmation and password-reset tokens: only a hash of the token is stored.
CREATE TABLE account_token (
    tenant_id   uuid NOT NULL,
    token_hash  bytea NOT NULL,
    account_id  uuid NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('confirm_email', 'reset_password')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, account_id) REFERENCES account (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_token_by_account ON account_token (tenant_id, account_id, purpose);

CREATE TABLE staff_role (
    tenant_id   uuid NOT NULL,
    account_id  uuid NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id, role),
    FOREIGN KEY (tenant_id, account_id) REFERENCES account (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE dialog (
    tenant_id   uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id     text NOT NULL CHECK (user_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    title       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX dialog_by_user ON dialog (tenant_id, user_id, updated_at DESC, id DESC);

CREATE TABLE message (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    dialog_id     uuid NOT NULL,
    role          text NOT NULL CHECK (role IN ('user', 'assistant')),
    content       text NOT NULL,
    status        text NOT NULL DEFAULT 'complete'
                  CHECK (status IN ('complete', 'streaming', 'interrupted', 'stopped', 'error')),
    finish_reason text,
    usage         jsonb,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, dialog_id) REFERENCES dialog (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX message_by_dialog ON message (tenant_id, dialog_id, created_at, id);
-- Finds rows left 'streaming' by a process that died, without scanning the table.
CREATE INDEX message_streaming ON message (updated_at) WHERE status = 'streaming';

CREATE TABLE saved_item (
    tenant_id     uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id       text NOT NULL CHECK (user_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    type          text NOT NULL CHECK (type IN ('message', 'content')),
    reference_id  text NOT NULL CHECK (char_length(reference_id) BETWEEN 1 AND 256),
    -- Set for type 'message': the referenced message, in the same tenant.
    message_id    uuid,
    note          text CHECK (char_length(note) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id, type, reference_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES message (tenant_id, id) ON DELETE CASCADE,
    CHECK ((type = 'message') = (message_id IS NOT NULL))
);
CREATE INDEX saved_item_by_user ON saved_item (tenant_id, user_id, created_at DESC, id DESC);

CREATE TABLE user_profile (
    tenant_id     uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    user_id       text NOT NULL CHECK (user_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    display_name  text CHECK (char_length(display_name) <= 256),
    contact       text CHECK (char_length(contact) <= 256),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

-- Fixed-window counters for rate limits and login throttling, shared by every app instance.
CREATE TABLE rate_counter (
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL DEFAULT 1,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_counter_by_window ON rate_counter (window_start);
