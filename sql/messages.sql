-- name: start_turn
-- A chat turn's opening write, in one statement: continue the caller's dialog (bumping its
-- updated_at) or create one, insert the user message and, when a reply will be streamed, the
-- assistant placeholder (status 'streaming'). No row comes back when :dialog_id names a dialog
-- that is not this (tenant, user)'s, or one they deleted, and then nothing is written.
-- `history` is what precedes the question (`dialog_history`, migration 0007: the newest earlier
-- messages whose characters fit :history_budget, oldest first).
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
      AND deleted_at IS NULL
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
       CASE WHEN :dialog_id::uuid IS NULL THEN '[]'::jsonb  -- a new dialog has none
            ELSE dialog_history(:tenant_id, question.dialog_id, question.created_at,
                                :history_budget::integer)
       END AS history
FROM question;

-- name: start_dialogs
-- The opening writes of chat turns that each start a new dialog, many in one statement (a
-- crowd of new visitors): per turn i, a dialog of :user_ids[i] titled :titles[i], its question
-- :contents[i] and, when :with_replies[i], the assistant placeholder (status 'streaming'),
-- dated one microsecond after its question. The ids come back in the turns' order.
WITH asked AS MATERIALIZED (
    SELECT turn.n, turn.user_id, turn.content, turn.title, turn.with_reply,
           gen_random_uuid() AS dialog_id, gen_random_uuid() AS question_id,
           CASE WHEN turn.with_reply THEN gen_random_uuid() END AS reply_id,
           clock_timestamp() AS asked_at
    FROM unnest(:user_ids::text[], :contents::text[], :titles::text[],
                :with_replies::boolean[]) WITH ORDINALITY AS turn (user_id, content, title,
                                                                    with_reply, n)
), dialogs AS (
    INSERT INTO dialog (tenant_id, id, user_id, title)
    SELECT :tenant_id, asked.dialog_id, asked.user_id, asked.title
    FROM asked
), messages AS (
    INSERT INTO message (tenant_id, id, dialog_id, role, content, status, created_at)
    SELECT :tenant_id, asked.question_id, asked.dialog_id, 'user', asked.content, 'complete',
           asked.asked_at
    FROM asked
    UNION ALL
    SELECT :tenant_id, asked.reply_id, asked.dialog_id, 'assistant', '', 'streaming',
           asked.asked_at + interval '1 microsecond'
    FROM asked
    WHERE asked.with_reply
)
SELECT asked.dialog_id, asked.question_id AS user_message_id, asked.reply_id AS message_id
FROM asked
ORDER BY asked.n;

-- name: finish_reply
-- The streamed answer's closing write: its text and safe HTML, final status, finish reason and
-- usage; the dialog's updated_at follows, and the parts appended while it was written go. The
-- answer's tokens (the upstream's, or estimated) are added to the tenant's day (UTC), in one
-- of the day's 16 rows (by the answer's id, so closing writes rarely wait on each other).
-- Returns the tenant's slug (for the metrics), no row when the reply is gone. :sources: the
-- knowledge-base chunks the answer was given from (NULL for none).
WITH reply AS (
    UPDATE message
    SET content = :content, html = :html, status = :status, finish_reason = :finish_reason,
        usage = :usage, sources = :sources::jsonb, updated_at = clock_timestamp()
    WHERE tenant_id = :tenant_id AND id = :message_id
    RETURNING tenant_id, dialog_id
), parts AS (
    DELETE FROM answer_part
    WHERE tenant_id = :tenant_id AND message_id = :message_id
), counted AS (
    INSERT INTO tenant_usage AS usage (tenant_id, day, shard, answers, prompt_tokens,
                                       completion_tokens, estimated_answers)
    SELECT reply.tenant_id, (now() AT TIME ZONE 'UTC')::date,
           (hashtext(:message_id::text) & 15)::smallint, 1, :prompt_tokens::bigint,
           :completion_tokens::bigint, CASE WHEN :estimated::boolean THEN 1 ELSE 0 END
    FROM reply
    ON CONFLICT (tenant_id, day, shard) DO UPDATE
    SET answers = usage.answers + 1,
        prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = usage.completion_tokens + excluded.completion_tokens,
        estimated_answers = usage.estimated_answers + excluded.estimated_answers
)
UPDATE dialog
SET updated_at = now()
FROM reply
WHERE dialog.tenant_id = reply.tenant_id AND dialog.id = reply.dialog_id
RETURNING (SELECT slug FROM tenant WHERE id = :tenant_id) AS tenant_slug;

-- name: discard_reply
-- The placeholder of an answer that never started (the LLM failed before streaming). When it
-- was to answer a question anew, the answer it superseded is the latest again. The answer
-- reserved of the tenant's month is given back.
WITH discarded AS (
    DELETE FROM message
    WHERE tenant_id = :tenant_id AND id = :message_id AND status = 'streaming'
    RETURNING reply_to
), restored AS (
    UPDATE message
    SET superseded = false
    WHERE tenant_id = :tenant_id
      AND id = (SELECT previous.id
                FROM message AS previous, discarded
                WHERE previous.tenant_id = :tenant_id AND previous.reply_to = discarded.reply_to
                  AND previous.superseded
                ORDER BY previous.created_at DESC, previous.id DESC
                LIMIT 1)
), released AS (
    UPDATE tenant_quota_month
    SET answers_reserved = answers_reserved - 1
    WHERE tenant_id = :tenant_id AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
      AND answers_reserved > 0 AND EXISTS (SELECT 1 FROM discarded)
)
SELECT reply_to FROM discarded;

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
       message.usage, message.sources, message.dialog_id,
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

-- name: regeneration_of
-- Message :message_id of this user's dialogs, to be answered anew: an answer, or a question
-- left without one (its answer failed before it started) that ends its dialog. Its role and
-- state, whether it is the dialog's latest (no message after it but superseded answers), the
-- question (the message itself, or the one the answer answers), and the history to send with
-- that question (as start_turn's). No row for anyone else's message, or for a question that
-- anything follows.
WITH target AS (
    SELECT message.id, message.dialog_id, message.role, message.status, message.created_at
    FROM message
    JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
    WHERE message.tenant_id = :tenant_id AND message.id = :message_id
      AND dialog.user_id = :user_id
      AND (message.role = 'assistant'
           OR NOT EXISTS (SELECT 1
                          FROM message AS later
                          WHERE later.tenant_id = :tenant_id
                            AND later.dialog_id = message.dialog_id
                            AND (later.created_at, later.id) > (message.created_at, message.id)))
      AND dialog.deleted_at IS NULL
), question AS (
    SELECT message.id, message.content, message.created_at
    FROM message, target
    WHERE message.tenant_id = :tenant_id AND message.dialog_id = target.dialog_id
      AND message.role = 'user'
      AND (message.id = target.id OR message.created_at < target.created_at)
    ORDER BY message.created_at DESC, message.id DESC
    LIMIT 1
)
SELECT target.dialog_id, target.role, target.status, question.id AS user_message_id,
       question.content AS question,
       NOT EXISTS (SELECT 1
                   FROM message AS later
                   WHERE later.tenant_id = :tenant_id AND later.dialog_id = target.dialog_id
                     AND (later.created_at, later.id) > (target.created_at, target.id)
                     AND NOT later.superseded) AS latest,
       dialog_history(:tenant_id, target.dialog_id, question.created_at,
                      :history_budget::integer) AS history
FROM target
JOIN question ON true;

-- name: start_regeneration
-- Answer :message_id is superseded by a new `streaming` answer to question :user_message_id,
-- in one statement, and only while it is still the dialog's latest answer and not being
-- written (no row otherwise: a regeneration that lost a race); both answers then name the
-- question; the dialog's updated_at follows.
WITH superseded AS (
    UPDATE message
    SET superseded = true, reply_to = :user_message_id
    WHERE tenant_id = :tenant_id AND id = :message_id AND dialog_id = :dialog_id
      AND role = 'assistant' AND NOT superseded AND status <> 'streaming'
      AND NOT EXISTS (SELECT 1
                      FROM message AS later
                      WHERE later.tenant_id = :tenant_id AND later.dialog_id = :dialog_id
                        AND (later.created_at, later.id) > (message.created_at, message.id)
                        AND NOT later.superseded)
    RETURNING tenant_id, dialog_id
), reply AS (
    INSERT INTO message (tenant_id, dialog_id, role, content, status, reply_to)
    SELECT superseded.tenant_id, superseded.dialog_id, 'assistant', '', 'streaming',
           :user_message_id
    FROM superseded
    RETURNING id
), touched AS (
    UPDATE dialog
    SET updated_at = now()
    FROM superseded
    WHERE dialog.tenant_id = superseded.tenant_id AND dialog.id = superseded.dialog_id
)
SELECT id AS message_id FROM reply;

-- name: start_late_answer
-- A `streaming` answer to question :user_message_id, left without one, in one statement, and
-- only while nothing follows the question in its dialog (no row otherwise: a retry that lost
-- a race); the dialog's updated_at follows. Its only answer names no question (`reply_to`),
-- like any answer given once.
WITH question AS (
    SELECT tenant_id, dialog_id, created_at
    FROM message
    WHERE tenant_id = :tenant_id AND id = :user_message_id AND dialog_id = :dialog_id
      AND role = 'user'
      AND NOT EXISTS (SELECT 1
                      FROM message AS later
                      WHERE later.tenant_id = :tenant_id AND later.dialog_id = :dialog_id
                        AND (later.created_at, later.id) > (message.created_at, message.id))
), reply AS (
    INSERT INTO message (tenant_id, dialog_id, role, content, status)
    SELECT question.tenant_id, question.dialog_id, 'assistant', '', 'streaming'
    FROM question
    RETURNING id
), touched AS (
    UPDATE dialog
    SET updated_at = now()
    FROM question
    WHERE dialog.tenant_id = question.tenant_id AND dialog.id = question.dialog_id
)
SELECT id AS message_id FROM reply;
