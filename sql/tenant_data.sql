-- A tenant's data as a whole, or one visitor's: read for an export, deleted in batches, and
-- the dialogs past the tenant's retention purged. `cip.tenant_data` drives them.
--
-- Reads take :everyone (the whole tenant) or one visitor: :user_id (a guest id, or an account
-- id as text) and :account_id (the account, NULL for a guest). Nothing reads the whole tenant
-- unless :everyone says so.
--
-- Deletes take at most :batch rows each, chosen by primary key in the subquery, so each is
-- one short transaction holding the locks of those rows alone; a caller repeats a delete until
-- it deletes nothing. The retention purge runs in every instance at once: its subqueries skip
-- rows another one has locked (`SKIP LOCKED`; a row a chat is writing waits for the next
-- round), where an erasure waits for them.

-- name: export_accounts
-- No password hash: an export is a copy of the data, not of the credentials.
SELECT id, email, email_confirmed_at, password_changed_at, created_at
FROM account
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR id = :account_id::uuid)
ORDER BY id;

-- name: export_staff_roles
SELECT account_id, role, created_at
FROM staff_role
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR account_id = :account_id::uuid)
ORDER BY account_id, role;

-- name: export_profiles
SELECT user_id, display_name, contact, updated_at
FROM user_profile
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR user_id = :user_id::text)
ORDER BY user_id;

-- name: export_dialogs
SELECT id, user_id, title, created_at, updated_at
FROM dialog
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR user_id = :user_id::text)
ORDER BY id;

-- name: export_messages
-- Each dialog's messages in order, dialogs as export_dialogs lists them (the stored HTML is
-- left out: it is rendered from the content).
SELECT message.id, message.dialog_id, message.role, message.content, message.status,
       message.finish_reason, message.usage, message.created_at, message.updated_at
FROM dialog
JOIN message ON message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
WHERE dialog.tenant_id = :tenant_id AND (:everyone::boolean OR dialog.user_id = :user_id::text)
ORDER BY message.dialog_id, message.created_at, message.id;

-- name: export_saved_items
-- The item's own `type` is `item_type`: an export line's `type` says what the line is.
SELECT id, user_id, type AS item_type, reference_id, message_id, note, created_at
FROM saved_item
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR user_id = :user_id::text)
ORDER BY id;

-- name: export_feedback
-- Ratings of answers (deleted with their answers: the foreign key cascades, one row at most
-- per answer and visitor).
SELECT message_id, user_id, rating, comment, created_at, updated_at
FROM message_feedback
WHERE tenant_id = :tenant_id AND (:everyone::boolean OR user_id = :user_id::text)
ORDER BY message_id, user_id;

-- name: delete_tenant_saved_items
DELETE FROM saved_item
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM saved_item WHERE tenant_id = :tenant_id
    LIMIT :batch
));

-- name: delete_tenant_messages
DELETE FROM message
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM message WHERE tenant_id = :tenant_id
    LIMIT :batch
));

-- name: delete_tenant_dialogs
DELETE FROM dialog
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM dialog WHERE tenant_id = :tenant_id
    LIMIT :batch
));

-- name: delete_tenant_profiles
DELETE FROM user_profile
WHERE tenant_id = :tenant_id AND user_id = ANY(ARRAY(
    SELECT user_id FROM user_profile WHERE tenant_id = :tenant_id
    LIMIT :batch
));

-- name: delete_tenant_accounts
-- Their tokens and staff roles go with them (foreign keys cascade: a few rows per account).
DELETE FROM account
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM account WHERE tenant_id = :tenant_id
    LIMIT :batch
));

-- name: delete_visitor_saved_items
DELETE FROM saved_item
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM saved_item WHERE tenant_id = :tenant_id AND user_id = :user_id
    LIMIT :batch
));

-- name: delete_visitor_messages
DELETE FROM message
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT message.id
    FROM dialog
    JOIN message ON message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
    WHERE dialog.tenant_id = :tenant_id AND dialog.user_id = :user_id
    LIMIT :batch
));

-- name: delete_visitor_dialogs
DELETE FROM dialog
WHERE tenant_id = :tenant_id AND user_id = :user_id AND id = ANY(ARRAY(
    SELECT id FROM dialog WHERE tenant_id = :tenant_id AND user_id = :user_id
    LIMIT :batch
));

-- name: delete_visitor_profile
DELETE FROM user_profile
WHERE tenant_id = :tenant_id AND user_id = :user_id;

-- name: delete_visitor_account
-- Its tokens and staff roles go with it (foreign keys cascade).
DELETE FROM account
WHERE tenant_id = :tenant_id AND id = :account_id;

-- name: delete_expired_messages
-- Messages of the dialogs idle since before :retention_days ago (found through dialog_by_age).
DELETE FROM message
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT message.id
    FROM dialog
    JOIN message ON message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
    WHERE dialog.tenant_id = :tenant_id
      AND dialog.updated_at < now() - make_interval(days => :retention_days::integer)
    LIMIT :batch FOR UPDATE OF message SKIP LOCKED
));

-- name: delete_expired_dialogs
-- The dialogs themselves, once emptied. A dialog a chat continued meanwhile has a new
-- updated_at, which the outer condition checks again on the row it would delete.
DELETE FROM dialog
WHERE tenant_id = :tenant_id
  AND updated_at < now() - make_interval(days => :retention_days::integer)
  AND id = ANY(ARRAY(
      SELECT id FROM dialog
      WHERE tenant_id = :tenant_id
        AND updated_at < now() - make_interval(days => :retention_days::integer)
      LIMIT :batch FOR UPDATE SKIP LOCKED
  ));

-- name: delete_discarded_messages
-- Messages of the dialogs their visitor deleted longer than :undo_seconds ago (past restore;
-- found through dialog_deleted); their saved items go with them (foreign key).
DELETE FROM message
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT message.id
    FROM dialog
    JOIN message ON message.tenant_id = dialog.tenant_id AND message.dialog_id = dialog.id
    WHERE dialog.tenant_id = :tenant_id
      AND dialog.deleted_at < now() - make_interval(secs => :undo_seconds::float8)
    LIMIT :batch FOR UPDATE OF message SKIP LOCKED
));

-- name: delete_discarded_dialogs
-- The deleted dialogs themselves, once emptied. Restore no longer reaches them (its window
-- has passed), so nothing brings one back meanwhile.
DELETE FROM dialog
WHERE tenant_id = :tenant_id AND id = ANY(ARRAY(
    SELECT id FROM dialog
    WHERE tenant_id = :tenant_id
      AND deleted_at < now() - make_interval(secs => :undo_seconds::float8)
    LIMIT :batch FOR UPDATE SKIP LOCKED
));
