-- A tenant's knowledge base: its documents, their chunks, and the search the chat runs for
-- every question. Every statement filters by tenant.

-- name: add_document
-- Adds document :name with its :chunks (a JSON array of {"headings": [...], "content": ...},
-- in document order). Refused (no row) when the tenant has :max_documents documents already.
-- Replacing a document is `remove_document` then this, in one transaction.
WITH document AS (
    INSERT INTO knowledge_document (tenant_id, name, format, bytes, chunks)
    SELECT :tenant_id, :name, :format, :bytes, jsonb_array_length(:chunks::jsonb)
    WHERE (SELECT count(*) FROM knowledge_document WHERE tenant_id = :tenant_id)
          < :max_documents::integer
    RETURNING tenant_id, id
), chunks AS (
    INSERT INTO knowledge_chunk (tenant_id, document_id, position, heading_path, content, search)
    SELECT document.tenant_id, document.id, (piece.position - 1)::integer, headings.path,
           piece.chunk ->> 'content',
           to_tsvector('russian'::regconfig,
                       array_to_string(headings.path, ' ') || E'\n' || (piece.chunk ->> 'content'))
    FROM document
    CROSS JOIN jsonb_array_elements(:chunks::jsonb) WITH ORDINALITY AS piece (chunk, position)
    CROSS JOIN LATERAL (
        SELECT ARRAY(SELECT jsonb_array_elements_text(piece.chunk -> 'headings')) AS path
    ) AS headings
)
SELECT id FROM document;

-- name: remove_document
-- Removes document :name with its chunks; its id, no row when there is none.
DELETE FROM knowledge_document
WHERE tenant_id = :tenant_id AND name = :name
RETURNING id;

-- name: list_documents
SELECT name, format, bytes, chunks, created_at
FROM knowledge_document
WHERE tenant_id = :tenant_id
ORDER BY name;

-- name: has_documents
-- Whether the tenant has any document (its visitors' questions are searched only then).
SELECT EXISTS (SELECT 1 FROM knowledge_document WHERE tenant_id = :tenant_id);

-- name: search
-- The tenant's :limit chunks that best match question :question, best first: any of the
-- question's stemmed words (stop words dropped) matches, ranked by ts_rank. A tenant without
-- documents is answered by the one-time filter at once, without touching the chunks' index.
WITH query AS (
    SELECT COALESCE(string_agg(quote_literal(lexeme), ' | '), '')::tsquery AS words
    FROM unnest(tsvector_to_array(to_tsvector('russian'::regconfig, :question))) AS lexeme
)
SELECT document.name, chunk.heading_path, chunk.content,
       ts_rank(chunk.search, query.words) AS rank
FROM query
JOIN knowledge_chunk AS chunk ON chunk.search @@ query.words
JOIN knowledge_document AS document
  ON document.tenant_id = chunk.tenant_id AND document.id = chunk.document_id
WHERE chunk.tenant_id = :tenant_id
  AND EXISTS (SELECT 1 FROM knowledge_document WHERE tenant_id = :tenant_id)
ORDER BY rank DESC, document.name, chunk.position
LIMIT :limit;
