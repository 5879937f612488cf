-- A visitor's saved items. Every statement filters by tenant and user.

-- name: list_page
-- One page, newest first, with the total and, for `message` items, the message itself, in
-- one round trip. `total` always yields a row, so an offset past the end still reports it.
-- An item of a message in a dialog the visitor deleted is left out (`hidden`): it goes with
-- the dialog, or comes back with it.
WITH visible AS (
    SELECT saved_item.id, saved_item.type, saved_item.reference_id, saved_item.message_id,
           saved_item.note, saved_item.created_at
    FROM saved_item
    WHERE saved_item.tenant_id = :tenant_id AND saved_item.user_id = :user_id
      AND NOT EXISTS (
          SELECT 1
          FROM message
          JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
          WHERE message.tenant_id = :tenant_id AND message.id = saved_item.message_id
            AND dialog.deleted_at IS NOT NULL
      )
), total AS (
    SELECT count(*) AS total FROM visible
), page AS (
    SELECT id, type, reference_id, message_id, note, created_at
    FROM visible
    ORDER BY created_at DESC, id DESC
    LIMIT :limit OFFSET :offset
)
SELECT total.total, page.id, page.type, page.reference_id, page.note, page.created_at,
       page.message_id, message.dialog_id, message.role, message.content, message.html,
       message.status
FROM total
LEFT JOIN page ON true
LEFT JOIN message ON message.tenant_id = :tenant_id AND message.id = page.message_id
ORDER BY page.created_at DESC, page.id DESC;

-- name: save
-- Saves a reference once. A `message` reference (:message_id set) is written only when the
-- message sits in one of this user's dialogs in this tenant (`found`), and a new reference
-- only while the user holds fewer than :max_items (`room`); the one row that always comes back
-- says which check failed when nothing was saved. Saving the same reference again returns the
-- stored item unchanged: the no-op DO UPDATE (rather than DO NOTHING) makes RETURNING yield it
-- even when a concurrent request inserted it, and `xmax = 0` tells a fresh insert from it.
-- Concurrent saves of new references may overshoot :max_items by the requests in flight.
WITH checks AS (
    SELECT (:message_id::uuid IS NULL OR EXISTS (
                SELECT 1
                FROM message
                JOIN dialog ON dialog.tenant_id = message.tenant_id
                           AND dialog.id = message.dialog_id
                WHERE message.tenant_id = :tenant_id AND message.id = :message_id
                  AND dialog.user_id = :user_id AND dialog.deleted_at IS NULL
            )) AS found,
           ((SELECT count(*)
             FROM saved_item
             WHERE tenant_id = :tenant_id AND user_id = :user_id) < :max_items::integer
            OR EXISTS (
                SELECT 1
                FROM saved_item
                WHERE tenant_id = :tenant_id AND user_id = :user_id AND type = :type
                  AND reference_id = :reference_id
            )) AS room
), saved AS (
    INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id, note)
    SELECT :tenant_id, :user_id, :type, :reference_id, :message_id, :note
    FROM checks
    WHERE checks.found AND checks.room
    ON CONFLICT (tenant_id, user_id, type, reference_id)
    DO UPDATE SET note = saved_item.note
    RETURNING id, type, reference_id, message_id, note, created_at, (xmax = 0) AS created
)
SELECT checks.found, checks.room,
       saved.id, saved.type, saved.reference_id, saved.note, saved.created_at, saved.created,
       saved.message_id, message.dialog_id, message.role, message.content, message.html,
       message.status
FROM checks
LEFT JOIN saved ON true
LEFT JOIN message ON message.tenant_id = :tenant_id AND message.id = saved.message_id;

-- name: delete
DELETE FROM saved_item
WHERE tenant_id = :tenant_id AND user_id = :user_id AND id = :item_id
RETURNING id;
