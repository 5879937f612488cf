-- A visitor's own dialogs, read by the cabinet. Every statement filters by tenant and user,
-- so a dialog of anyone else is simply not found, and leaves out the dialogs the visitor
-- deleted (`deleted_at`), but restore, which brings one back within :undo_seconds.
--
-- Titles and previews come back as their sources, which `cip.db.store.dialogs` turns into
-- plain text cut at a word: `title` is the visitor's own title once they chose one
-- (`title_set`), else the start of the first question (the stored title for a dialog without
-- one); `preview` is the start of the last message, with its `preview_role`. :source_chars
-- bounds both, with room for the markdown an answer's text is stripped of.

-- name: list_page
-- One page of dialogs, latest activity first, with the total, in one round trip.
-- `total` always yields a row, so an offset past the end still reports the total (the page
-- columns are then NULL). The page walks dialog_by_user (tenant_id, user_id, updated_at DESC,
-- id DESC; deleted_at included, so the total is an index-only count); title, preview and count
-- use message_by_dialog per dialog of the page.
WITH total AS (
    SELECT count(*) AS total
    FROM dialog
    WHERE tenant_id = :tenant_id AND user_id = :user_id AND deleted_at IS NULL
), page AS (
    SELECT id, title, title_set, created_at, updated_at
    FROM dialog
    WHERE tenant_id = :tenant_id AND user_id = :user_id AND deleted_at IS NULL
    ORDER BY updated_at DESC, id DESC
    LIMIT :limit OFFSET :offset
)
SELECT total.total, page.id, page.created_at, page.updated_at, page.title_set,
       dialog_title(:tenant_id, page.id, page.title, page.title_set, :source_chars) AS title,
       last_message.preview, last_message.preview_role,
       counted.message_count
FROM total
LEFT JOIN page ON true
LEFT JOIN LATERAL (
    SELECT left(message.content, :source_chars) AS preview, message.role AS preview_role
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
SELECT dialog.id, shown.title, dialog.title_set, dialog.created_at, dialog.updated_at,
       now() AS checked_at,
       :before::uuid IS NULL OR EXISTS (SELECT 1 FROM cursor) AS cursor_found,
       page.id AS message_id, page.role, page.content, page.html, page.status, page.sources,
       page.created_at AS message_created_at, page.updated_at AS message_updated_at,
       page.superseded, page.answer_number, page.answers, page.saved_item_id, page.feedback
FROM dialog
CROSS JOIN LATERAL (
    SELECT dialog_title(:tenant_id, dialog.id, dialog.title, dialog.title_set, :source_chars)
           AS title
) AS shown
LEFT JOIN LATERAL (
    SELECT message.id, message.role, message.content, message.html, message.status,
           message.sources, message.created_at, message.updated_at, message.superseded,
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
  AND dialog.deleted_at IS NULL
ORDER BY page.created_at, page.id;

-- name: change
-- A visitor's change to one of their dialogs, returned as its summary (as list_page gives it):
-- a new :title (the visitor's own from now on; NULL keeps it), and with :restore a dialog
-- deleted less than :undo_seconds ago brought back (a dialog not deleted is left as it is). No
-- row when the dialog is not this user's, is deleted (unless restored), or is past its undo.
WITH changed AS (
    UPDATE dialog
    SET title = COALESCE(:title::text, title),
        title_set = title_set OR :title::text IS NOT NULL,
        deleted_at = CASE WHEN :restore::boolean THEN NULL ELSE deleted_at END
    WHERE tenant_id = :tenant_id AND id = :dialog_id AND user_id = :user_id
      AND (deleted_at IS NULL
           OR (:restore::boolean
               AND deleted_at > now() - make_interval(secs => :undo_seconds::float8)))
    RETURNING id, title, title_set, created_at, updated_at
)
SELECT changed.id, changed.created_at, changed.updated_at, changed.title_set,
       dialog_title(:tenant_id, changed.id, changed.title, changed.title_set, :source_chars)
           AS title,
       last_message.preview, last_message.preview_role, counted.message_count
FROM changed
LEFT JOIN LATERAL (
    SELECT left(message.content, :source_chars) AS preview, message.role AS preview_role
    FROM message
    WHERE message.tenant_id = :tenant_id AND message.dialog_id = changed.id
    ORDER BY message.created_at DESC, message.id DESC
    LIMIT 1
) AS last_message ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS message_count
    FROM message
    WHERE message.tenant_id = :tenant_id AND message.dialog_id = changed.id
) AS counted ON true;

-- name: discard
-- A visitor deletes a dialog: hidden at once, restorable by `change` for the undo window,
-- then purged by housekeeping (`tenant_data.delete_discarded_*`).
UPDATE dialog
SET deleted_at = now()
WHERE tenant_id = :tenant_id AND id = :dialog_id AND user_id = :user_id AND deleted_at IS NULL
RETURNING id;

-- name: plan_for_the_values
-- The rest of the transaction plans each statement for its values (see `search`).
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: search
-- The visitor's dialogs with messages that match :query (websearch syntax: words, "a phrase",
-- or, -word), latest activity first, :limit of them, each with how many of its messages match
-- and its :per_dialog newest matches, one row each, their text marked by ts_headline between
-- the :options' StartSel and StopSel. The characters of :hidden are taken out of the text
-- first (so only the search marks), and its `<` travels as :less_than (ts_headline would drop
-- what looks like a tag). The match is the expression of the GIN index message_search
-- (migration 0011), bound to the tenant and joined to the user's dialogs that are not
-- deleted. Run with a custom plan: the words' frequency chooses the GIN index or the walk
-- through the user's dialogs.
WITH terms AS (
    SELECT websearch_to_tsquery('russian'::regconfig, :query::text) AS query
), hits AS (
    SELECT message.dialog_id, message.id, message.created_at
    FROM terms, message
    JOIN dialog ON dialog.tenant_id = message.tenant_id AND dialog.id = message.dialog_id
    WHERE message.tenant_id = :tenant_id
      AND to_tsvector('russian'::regconfig, message.content) @@ terms.query
      AND dialog.user_id = :user_id AND dialog.deleted_at IS NULL
), found AS (
    SELECT dialog.id, dialog.title, dialog.title_set, dialog.updated_at, matched.matches
    FROM (SELECT dialog_id, count(*) AS matches FROM hits GROUP BY dialog_id) AS matched
    JOIN dialog ON dialog.tenant_id = :tenant_id AND dialog.id = matched.dialog_id
    ORDER BY dialog.updated_at DESC, dialog.id DESC
    LIMIT :limit
)
SELECT found.id, found.updated_at, found.matches, found.title_set,
       dialog_title(:tenant_id, found.id, found.title, found.title_set, :source_chars) AS title,
       message.id AS message_id, message.role, message.created_at,
       ts_headline('russian'::regconfig,
                   replace(translate(message.content, :hidden, ''), '<', :less_than),
                   terms.query, :options) AS snippet
FROM found
CROSS JOIN terms
CROSS JOIN LATERAL (
    SELECT hits.id, hits.created_at
    FROM hits
    WHERE hits.dialog_id = found.id
    ORDER BY hits.created_at DESC, hits.id DESC
    LIMIT :per_dialog
) AS newest
JOIN message ON message.tenant_id = :tenant_id AND message.id = newest.id
ORDER BY found.updated_at DESC, found.id DESC, newest.created_at DESC, newest.id DESC;

-- name: export_messages
-- The visitor's dialogs that are not deleted (only :dialog_id, when given), oldest first, each
-- with its messages in order: one row per message, a dialog without messages as one row with
-- NULL message columns. Read through a cursor, so an export of any size holds one batch.
SELECT dialog.id AS dialog_id, dialog.created_at AS dialog_created_at,
       dialog.updated_at AS dialog_updated_at, dialog.title_set, shown.title,
       message.id AS message_id, message.role, message.content, message.status,
       message.superseded, message.created_at
FROM dialog
CROSS JOIN LATERAL (
    SELECT dialog_title(:tenant_id, dialog.id, dialog.title, dialog.title_set, :source_chars)
           AS title
) AS shown
LEFT JOIN message ON message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
WHERE dialog.tenant_id = :tenant_id AND dialog.user_id = :user_id AND dialog.deleted_at IS NULL
  AND (:dialog_id::uuid IS NULL OR dialog.id = :dialog_id::uuid)
ORDER BY dialog.created_at, dialog.id, message.created_at, message.id;
