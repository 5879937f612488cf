-- Moving a guest's data to the account the visitor logs in to; run in one transaction.

-- name: move_dialogs
UPDATE dialog
SET user_id = :account_id
WHERE tenant_id = :tenant_id AND user_id = :guest_id
RETURNING id;

-- name: move_saved_items
-- The guest's saved items become the account's, except those the account has saved already.
UPDATE saved_item AS guest
SET user_id = :account_id
WHERE guest.tenant_id = :tenant_id AND guest.user_id = :guest_id
  AND NOT EXISTS (
      SELECT 1 FROM saved_item AS own
      WHERE own.tenant_id = guest.tenant_id AND own.user_id = :account_id
        AND own.type = guest.type AND own.reference_id = guest.reference_id
  )
RETURNING guest.id;

-- name: drop_guest_saved_items
-- What is left of the guest's saved items duplicates the account's.
DELETE FROM saved_item
WHERE tenant_id = :tenant_id AND user_id = :guest_id
RETURNING id;

-- name: move_profile
-- The guest's profile fills the account profile's empty fields; the guest's row goes.
WITH guest AS (
    DELETE FROM user_profile
    WHERE tenant_id = :tenant_id AND user_id = :guest_id
    RETURNING tenant_id, display_name, contact
)
INSERT INTO user_profile AS own (tenant_id, user_id, display_name, contact)
SELECT tenant_id, :account_id, display_name, contact FROM guest
ON CONFLICT (tenant_id, user_id) DO UPDATE
SET display_name = COALESCE(own.display_name, EXCLUDED.display_name),
    contact = COALESCE(own.contact, EXCLUDED.contact),
    updated_at = now()
RETURNING user_id;

-- name: move_feedback
-- The guest's ratings follow their answers (an account can have rated none of them).
UPDATE message_feedback
SET user_id = :account_id
WHERE tenant_id = :tenant_id AND user_id = :guest_id
RETURNING message_id;
