-- name: start_turn
-- A chat turn's opening write, in one statement: continue the caller's dialog (bumping its
-- updated_at) or create one, insert the user message and, when a reply will be streamed, the
-- assistant placeholder (status 'streaming'). No row comes back when :dialog_id names a dialog
-- that is not this (tenant, user)'s, and then nothing is written.
-- The main SELECT runs on the statement's snapshot, so `history` holds only the earlier
-- messages: the newest ones whose characters fit :history_budget, oldest first. Rows still being
-- written by another stream and empty texts are left out.
-- The placeholder is dated one microsecond after the question so the pair keeps its order.
WITH new_dialog AS (
    INSERT INTO dialog (tenant_id, user_id, title)
    SELECT :tenant_id, :user_id, :title
    WHERE :dialog_id::uuid IS NULL
    RETURNING id
), continued AS (
    UPDATE dialog
    SET updated_at = now()
    WHERE tenant_id = :tenant_id AND id = :dialog_id::uuid AND user_id = :user_id
    RETURNING id
), question AS (
    INSERT INTO message (tenant_id, dialog_id, role, content)
    SELECT :tenant_id, target.id, 'user', :content
    FROM (SELECT id FROM new_dialog UNION ALL SELECT id FROM continued) AS target
    RETURNING id, dialog_id, created_at
), reply AS (
    INSERT INTO message (tenant_id, dialog_id, role, content, status, created_at)
    SELECT :tenant_id, question.dialog_id, 'assistant', '', 'streaming',
           question.created_at + interval '1 microsecond'
    FROM question
    WHERE :with_reply::boolean
    RETURNING id
)
SELECT question.dialog_id,
       question.id AS user_message_id,
       (SELECT reply.id FROM reply) AS message_id,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('role', earlier.role,
                                                     'content', earlier.content)
                                  ORDER BY earlier.created_at, earlier.id), '[]'::jsonb)
        FROM (SELECT role, content, created_at, id,
                     sum(char_length(content)) OVER (ORDER BY created_at DESC, id DESC) AS used
              FROM message
              WHERE tenant_id = :tenant_id AND dialog_id = question.dialog_id
                AND status <> 'streaming' AND content <> '') AS earlier
        WHERE earlier.used <= :history_budget::integer) AS history
FROM question;

-- name: finish_reply
-- The streamed answer's closing write: its text and safe HTML, final status, finish reason and
-- usage; the dialog's updated_at follows.
WITH reply AS (
    UPDATE message
    SET content = :content, html = :html, status = :status, finish_reason = :finish_reason,
        usage = :usage, updated_at = clock_timestamp()
    WHERE tenant_id = :tenant_id AND id = :message_id
    RETURNING tenant_id, dialog_id
)
UPDATE dialog
SET updated_at = now()
FROM reply
WHERE dialog.tenant_id = reply.tenant_id AND dialog.id = reply.dialog_id
RETURNING dialog.id;

-- name: discard_reply
-- The placeholder of an answer that never started (the LLM failed before streaming).
DELETE FROM message
WHERE tenant_id = :tenant_id AND id = :message_id AND status = 'streaming'
RETURNING id;

-- name: interrupt_stale
-- Rows left 'streaming' by a process that died: nothing writes a row for longer than
-- :older_than seconds, so an older one is reported as interrupted. Served by the partial index
-- message_streaming.
UPDATE message
SET status = 'interrupted', updated_at = clock_timestamp()
WHERE status = 'streaming' AND updated_at < now() - make_interval(secs => :older_than::float8)
RETURNING tenant_id, id;

-- name: store_html
-- The HTML of answers stored without one, rendered by their first reader. A row being written
-- is left alone (its closing write brings its own), and so is one rendered meanwhile.
UPDATE message
SET html = rendered.html
FROM unnest(:ids::uuid[], :htmls::text[]) AS rendered (id, html)
WHERE message.tenant_id = :tenant_id AND message.id = rendered.id
  AND message.html IS NULL AND message.status <> 'streaming';

-- name: reply_of
-- An answer of this user's dialogs, for its owner to stop: its status and when it was last
-- written (on the database's clock, with that clock's now). No row for anyone else's message,
-- or for a question.
SELECT message.status, message.updated_at, now() AS checked_at
FROM message
JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
WHERE message.tenant_id = :tenant_id AND message.id = :message_id
  AND message.role = 'assistant' AND dialog.user_id = :user_id;

-- name: publish_stop
-- Asks every instance to stop an answer; the one streaming it does (`cip.chat.stops`).
SELECT pg_notify('cip_stop', :message_id::text);
