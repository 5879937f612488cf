-- depends: 0011_dialog_rename_delete_search
-- A tenant's knowledge base: documents split into chunks that the chat searches for every
-- question, and the sources an answer was given from.
--
-- A document is known by its name in its tenant: adding one under a name it already has
-- replaces it. Its chunks keep their heading path (the headings above them, outermost first),
-- their position in the document and their text; `search` is the chunk's tsvector (heading
-- path and text) in the `russian` configuration, which stems Cyrillic words with the Russian
-- Snowball stemmer and ASCII words with the English one: one GIN index serves tenants of
-- either locale (as `message_search` does, migration 0011).
CREATE TABLE knowledge_document (
    tenant_id   uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    format      text NOT NULL CHECK (format IN ('markdown', 'text', 'html', 'pdf')),
    bytes       integer NOT NULL CHECK (bytes >= 0),
    chunks      integer NOT NULL CHECK (chunks >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE knowledge_chunk (
    tenant_id     uuid NOT NULL,
    document_id   uuid NOT NULL,
    position      integer NOT NULL CHECK (position >= 0),
    heading_path  text[] NOT NULL,
    content       text NOT NULL,
    search        tsvector NOT NULL,
    PRIMARY KEY (tenant_id, document_id, position),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES knowledge_document (tenant_id, id) ON DELETE CASCADE
);
-- fastupdate off: new entries go straight into the index, not into a pending list that every
-- search reads through until a vacuum merges it (documents are written rarely, searched for
-- every question).
CREATE INDEX knowledge_chunk_search ON knowledge_chunk USING gin (search)
    WITH (fastupdate = off);

-- The chunks an answer was given from (document, heading path, excerpt), as its `sources`
-- event sent them; NULL for an answer given without any.
ALTER TABLE message ADD COLUMN sources jsonb;
