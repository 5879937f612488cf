-- A visitor's own dialogs, read by the cabinet. Every statement filters by tenant and user,
-- so a dialog of anyone else is simply not found. A dialog without a title (none is created so
-- today) shows the start of its first question; :snippet_chars bounds that and the preview.

-- name: list_page
-- One page of dialogs, latest activity first, with the total, in one round trip.
-- `total` always yields a row, so an offset past the end still reports the total (the page
-- columns are then NULL). The page walks dialog_by_user (tenant_id, user_id, updated_at DESC,
-- id DESC); preview, title fallback and count use message_by_dialog per dialog of the page.
WITH total AS (
    SELECT count(*) AS total
    FROM dialog
    WHERE tenant_id = :tenant_id AND user_id = :user_id
), page AS (
    SELECT id, title, created_at, updated_at
    FROM dialog
    WHERE tenant_id = :tenant_id AND user_id = :user_id
    ORDER BY updated_at DESC, id DESC
    LIMIT :limit OFFSET :offset
)
SELECT total.total, page.id, page.created_at, page.updated_at,
       COALESCE(NULLIF(page.title, ''), (
           SELECT left(first_message.content, :snippet_chars)
           FROM message AS first_message
           WHERE first_message.tenant_id = :tenant_id AND first_message.dialog_id = page.id
             AND first_message.role = 'user'
           ORDER BY first_message.created_at, first_message.id
           LIMIT 1
       ), '') AS title,
       last_message.preview,
       counted.message_count
FROM total
LEFT JOIN page ON true
LEFT JOIN LATERAL (
    SELECT left(message.content, :snippet_chars) AS preview
    FROM message
    WHERE message.tenant_id = :tenant_id AND message.dialog_id = page.id
    ORDER BY message.created_at DESC, message.id DESC
    LIMIT 1
) AS last_message ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS message_count
    FROM message
    WHERE message.tenant_id = :tenant_id AND message.dialog_id = page.id
) AS counted ON true
ORDER BY page.updated_at DESC, page.id DESC;

-- name: with_messages
-- One dialog and a page of its messages: the :limit + 1 newest of those older than message
-- :before (of all, when NULL), returned oldest first, so the caller shows :limit and knows
-- whether older ones remain. One row per message; a single row with NULL message columns for an
-- empty page; no row when the dialog is not this user's. `cursor_found` is false when :before
-- names no message of this dialog. The page walks message_by_dialog backwards from the cursor.
-- `checked_at` is the database's clock, to age `streaming` rows against their `updated_at`.
-- An answer to a question answered more than once carries its place among those answers
-- (`answer_number`, oldest first) and their count (`answers`), from message_by_question; 0 for
-- the others. `saved_item_id` is this user's saved item of the message, `feedback` their rating
-- of it (both NULL when none).
WITH cursor AS (
    SELECT created_at, id
    FROM message
    WHERE tenant_id = :tenant_id AND dialog_id = :dialog_id AND id = :before::uuid
)
SELECT dialog.id, shown.title, dialog.created_at, dialog.updated_at, now() AS checked_at,
       :before::uuid IS NULL OR EXISTS (SELECT 1 FROM cursor) AS cursor_found,
       page.id AS message_id, page.role, page.content, page.html, page.status,
       page.created_at AS message_created_at, page.updated_at AS message_updated_at,
       page.superseded, page.answer_number, page.answers, page.saved_item_id, page.feedback
FROM dialog
CROSS JOIN LATERAL (
    SELECT COALESCE(NULLIF(dialog.title, ''), (
               SELECT left(first_message.content, :snippet_chars)
               FROM message AS first_message
               WHERE first_message.tenant_id = dialog.tenant_id
                 AND first_message.dialog_id = dialog.id AND first_message.role = 'user'
               ORDER BY first_message.created_at, first_message.id
               LIMIT 1
           ), '') AS title
) AS shown
LEFT JOIN LATERAL (
    SELECT message.id, message.role, message.content, message.html, message.status,
           message.created_at, message.updated_at, message.superseded,
           (SELECT count(*)
            FROM message AS variant
            WHERE variant.tenant_id = message.tenant_id AND variant.reply_to = message.reply_to
              AND (variant.created_at, variant.id) <= (message.created_at, message.id)
           ) AS answer_number,
           (SELECT count(*)
            FROM message AS variant
            WHERE variant.tenant_id = message.tenant_id AND variant.reply_to = message.reply_to
           ) AS answers,
           (SELECT saved_item.id
            FROM saved_item
            WHERE saved_item.tenant_id = message.tenant_id AND saved_item.user_id = :user_id
              AND saved_item.type = 'message' AND saved_item.reference_id = message.id::text
           ) AS saved_item_id,
           (SELECT feedback.rating
            FROM message_feedback AS feedback
            WHERE feedback.tenant_id = message.tenant_id AND feedback.message_id = message.id
              AND feedback.user_id = :user_id
           ) AS feedback
    FROM message
    WHERE message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
      AND (:before::uuid IS NULL
           OR (message.created_at, message.id) < (SELECT created_at, id FROM cursor))
    ORDER BY message.created_at DESC, message.id DESC
    LIMIT :limit::integer + 1
) AS page ON true
WHERE dialog.tenant_id = :tenant_id AND dialog.id = :dialog_id AND dialog.user_id = :user_id
ORDER BY page.created_at, page.id;
