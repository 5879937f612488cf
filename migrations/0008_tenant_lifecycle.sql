-- depends: 0007_regenerated_answers
-- A tenant can be switched off without touching its data: while disabled_at is set its pages
-- and API answer 410 (`cip tenant disable` / `enable`).
ALTER TABLE tenant ADD COLUMN disabled_at timestamptz;
-- The retention purge finds a tenant's dialogs idle since before its cutoff without walking
-- every visitor's entries of dialog_by_user.
CREATE INDEX dialog_by_age ON dialog (tenant_id, updated_at);
-- Deleting a message makes PostgreSQL look for the saved items pointing at it (the foreign key
-- cascades); without an index that is a walk over the tenant's saved items per message, which a
-- purge or an erasure of thousands of messages would repeat thousands of times.
CREATE INDEX saved_item_by_message ON saved_item (tenant_id, message_id)
    WHERE message_id IS NOT NULL;
