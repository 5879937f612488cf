-- depends: 0006_answer_parts
-- Answers given again to the same question (`POST …/chat/{message_id}/regenerate`): an answer
-- answered anew is `superseded` (kept, shown, left out of the history sent upstream), and the
-- answers to one question, once there is more than one, name it in `reply_to` (an answer
-- never regenerated keeps NULL, so the index holds regenerated questions only).
ALTER TABLE message
    ADD COLUMN reply_to uuid,
    ADD COLUMN superseded boolean NOT NULL DEFAULT false;
CREATE INDEX message_by_question ON message (tenant_id, reply_to) WHERE reply_to IS NOT NULL;

-- What precedes a question in its dialog, as the history sent upstream with it: the messages
-- created before `before`, newest kept within `budget` characters, oldest first, as
-- [{role, content}]. Rows still being written, empty texts and superseded answers are left
-- out. STABLE: called inside a statement, it reads that statement's snapshot.
CREATE FUNCTION dialog_history(tenant uuid, dialog uuid, before timestamptz, budget integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object('role', earlier.role,
                                                 'content', earlier.content)
                              ORDER BY earlier.created_at, earlier.id), '[]'::jsonb)
    FROM (SELECT role, content, created_at, id,
                 sum(char_length(content)) OVER (ORDER BY created_at DESC, id DESC) AS used
          FROM message
          WHERE tenant_id = dialog_history.tenant AND dialog_id = dialog_history.dialog
            AND created_at < dialog_history.before
            AND status <> 'streaming' AND content <> '' AND NOT superseded) AS earlier
    WHERE earlier.used <= dialog_history.budget
$$;
