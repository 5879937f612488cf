-- depends: 0005_message_html
-- The text of answers being written, appended in batches by the instance writing each, so that
-- any instance can replay an answer to a visitor who reconnects and follow it to its end
-- (`cip.chat.parts`). A part holds the characters from `start` on; an answer's parts are
-- contiguous from 0. They go when the answer is stored (its closing write) or swept.
-- UNLOGGED: no WAL for text rewritten into `message` seconds later; a crash of the database
-- server empties the table, which only loses what a crash loses anyway (answers in flight).
CREATE UNLOGGED TABLE answer_part (
    tenant_id  uuid NOT NULL,
    message_id uuid NOT NULL,
    start      integer NOT NULL CHECK (start >= 0),
    body       text NOT NULL,
    PRIMARY KEY (tenant_id, message_id, start),
    FOREIGN KEY (tenant_id, message_id) REFERENCES message (tenant_id, id) ON DELETE CASCADE
);
