-- A visitor's ratings of the answers in their own dialogs. Every statement filters by tenant
-- and user.

-- name: rate
-- Rates answer :message_id (only an assistant message of one of this user's dialogs: no row
-- otherwise, and nothing written); rating again replaces the rating and the comment.
INSERT INTO message_feedback AS feedback (tenant_id, message_id, user_id, rating, comment)
SELECT message.tenant_id, message.id, :user_id, :rating, :comment
FROM message
JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
WHERE message.tenant_id = :tenant_id AND message.id = :message_id
  AND message.role = 'assistant' AND dialog.user_id = :user_id
ON CONFLICT (tenant_id, message_id, user_id) DO UPDATE
SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, updated_at = now()
RETURNING message_id, rating, comment, updated_at;

-- name: clear_rating
-- Clears this user's rating of answer :message_id; `found` says whether the answer is an
-- assistant message of one of this user's dialogs (rated or not).
WITH answer AS (
    SELECT message.id
    FROM message
    JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
    WHERE message.tenant_id = :tenant_id AND message.id = :message_id
      AND message.role = 'assistant' AND dialog.user_id = :user_id
), cleared AS (
    DELETE FROM message_feedback
    WHERE tenant_id = :tenant_id AND user_id = :user_id
      AND message_id = (SELECT id FROM answer)
)
SELECT EXISTS (SELECT 1 FROM answer) AS found;
