-- depends: 0010_answer_feedback
-- A visitor's dialogs renamed, deleted with a moment to undo, and searched.
--
-- title_set: the visitor chose the title (`PATCH …/me/dialogs/{id}`); until then the title
-- shown is the start of the first question. deleted_at: deleted by the visitor; hidden from
-- every read at once, restorable for `[limits] dialog_undo_seconds`, then purged by
-- housekeeping. Both columns have constant defaults: adding them rewrites no row.
ALTER TABLE dialog
    ADD COLUMN title_set boolean NOT NULL DEFAULT false,
    ADD COLUMN deleted_at timestamptz;

-- The list counts a visitor's dialogs that are not deleted from the index alone: deleted_at
-- rides along (INCLUDE), so the count stays an index-only scan. Rebuilding the index reads the
-- dialog table once (a tenth of the message table's rows), under a lock that holds writes to
-- dialogs for that time.
DROP INDEX dialog_by_user;
CREATE INDEX dialog_by_user ON dialog (tenant_id, user_id, updated_at DESC, id DESC)
    INCLUDE (deleted_at);
-- Housekeeping finds each tenant's deleted dialogs past their undo window; a handful of rows.
CREATE INDEX dialog_deleted ON dialog (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Full-text search over the visitor's messages. The `russian` configuration stems Cyrillic
-- words with the Russian Snowball stemmer and ASCII words with the English one (its mapping of
-- asciiword), so one index serves both languages whatever the tenant's locale. An expression
-- index, not a stored generated column: adding a stored column would rewrite the whole message
-- table under an exclusive lock, where this only reads it once. On a large table, build it
-- beforehand without blocking writes (the statement below then finds it and does nothing):
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS message_search
--       ON message USING gin (to_tsvector('russian'::regconfig, content));
CREATE INDEX IF NOT EXISTS message_search
    ON message USING gin (to_tsvector('russian'::regconfig, content));

-- The source of a dialog's title as the cabinet shows it: the visitor's own title once they
-- chose one, else the first `chars` characters of the first question (the stored title for a
-- dialog without one). STABLE: called inside a statement, it reads that statement's snapshot.
CREATE FUNCTION dialog_title(tenant uuid, dialog uuid, title text, title_set boolean,
                             chars integer)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN dialog_title.title_set THEN dialog_title.title ELSE COALESCE((
        SELECT left(first_message.content, dialog_title.chars)
        FROM message AS first_message
        WHERE first_message.tenant_id = dialog_title.tenant
          AND first_message.dialog_id = dialog_title.dialog AND first_message.role = 'user'
        ORDER BY first_message.created_at, first_message.id
        LIMIT 1
    ), dialog_title.title) END
$$;
