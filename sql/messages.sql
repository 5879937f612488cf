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
-- usage; the dialog's updated_at follows, and the parts appended while it was written go.
WITH reply AS (
    UPDATE message
    SET content = :content, html = :html, status = :status, finish_reason = :finish_reason,
        usage = :usage, updated_at = clock_timestamp()
    WHERE tenant_id = :tenant_id AND id = :message_id
    RETURNING tenant_id, dialog_id
), parts AS (
    DELETE FROM answer_part
    WHERE tenant_id = :tenant_id AND message_id = :message_id
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
-- :older_than seconds, so an older one is reported as interrupted, with the text its parts
-- hold. Served by the partial index message_streaming.
WITH stale AS (
    UPDATE message
    SET status = 'interrupted', updated_at = clock_timestamp(),
        content = COALESCE((SELECT string_agg(part.body, '' ORDER BY part.start)
                            FROM answer_part AS part
                            WHERE part.tenant_id = message.tenant_id
                              AND part.message_id = message.id), message.content)
    WHERE status = 'streaming' AND updated_at < now() - make_interval(secs => :older_than::float8)
    RETURNING tenant_id, id
), parts AS (
    DELETE FROM answer_part
    USING stale
    WHERE answer_part.tenant_id = stale.tenant_id AND answer_part.message_id = stale.id
)
SELECT tenant_id, id FROM stale;

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
-- Asks every instance to stop an answer; the one writing it does (`cip.chat.signals`).
SELECT pg_notify('cip_stop', :message_id::text);

-- name: append_parts
-- The text each answer in flight on an instance gained since its last append, in one
-- statement for all of them (so across tenants: each part is filed under its own answer's
-- tenant, and only while that answer is still being written). A retried part that starts
-- where a stored one does extends it. Then a wake-up for the instances following :followed.
WITH appended AS (
    INSERT INTO answer_part (tenant_id, message_id, start, body)
    SELECT message.tenant_id, message.id, part.start, part.body
    FROM unnest(:tenant_ids::uuid[], :message_ids::uuid[], :starts::integer[], :bodies::text[])
         AS part (tenant_id, message_id, start, body)
    JOIN message ON message.tenant_id = part.tenant_id AND message.id = part.message_id
    WHERE message.status = 'streaming'
    ON CONFLICT (tenant_id, message_id, start) DO UPDATE SET body = excluded.body
)
SELECT pg_notify('cip_parts', followed::text) FROM unnest(:followed::uuid[]) AS followed;

-- name: answer_since
-- An answer of this user's dialogs, for its owner to follow from character :after on: its
-- state (on the database's clock, with that clock's now), the question it answers, and its
-- text from there: from the parts appended so far while it is being written, from the stored
-- answer once it is. No row for anyone else's message, or for a question.
SELECT message.status, message.updated_at, now() AS checked_at, message.finish_reason,
       message.usage, message.dialog_id,
       (SELECT question.id
        FROM message AS question
        WHERE question.tenant_id = message.tenant_id AND question.dialog_id = message.dialog_id
          AND question.role = 'user' AND question.created_at < message.created_at
        ORDER BY question.created_at DESC, question.id DESC
        LIMIT 1) AS user_message_id,
       CASE WHEN message.status = 'streaming' THEN
           COALESCE((SELECT substr(string_agg(part.body, '' ORDER BY part.start),
                                   :after::integer - min(part.start) + 1)
                     FROM answer_part AS part
                     WHERE part.tenant_id = message.tenant_id AND part.message_id = message.id
                       AND part.start + char_length(part.body) > :after::integer), '')
       ELSE substr(message.content, :after::integer + 1) END AS text
FROM message
JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
WHERE message.tenant_id = :tenant_id AND message.id = :message_id
  AND message.role = 'assistant' AND dialog.user_id = :user_id;

-- name: publish_follow
-- Tells every instance someone follows an answer from elsewhere; the one writing it keeps it
-- going and wakes the follower at each append (`cip.chat.signals`).
SELECT pg_notify('cip_follow', :message_id::text);

-- name: publish_parts
-- Wakes the instances following an answer from elsewhere (it ended).
SELECT pg_notify('cip_parts', :message_id::text);
