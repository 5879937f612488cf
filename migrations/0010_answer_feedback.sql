-- depends: 0009_usage
-- A visitor's rating of an answer (`POST …/messages/{message_id}/feedback`): thumbs up or
-- down with an optional comment, one per visitor and answer, changeable; it goes with the
-- answer.
CREATE TABLE message_feedback (
    tenant_id   uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    message_id  uuid NOT NULL,
    user_id     text NOT NULL CHECK (user_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    rating      text NOT NULL CHECK (rating IN ('up', 'down')),
    comment     text CHECK (char_length(comment) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id, user_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES message (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX message_feedback_by_user ON message_feedback (tenant_id, user_id);

-- Answers are rendered with GFM tables, strikethrough and autolinks from now on: the HTML
-- stored before is rendered again by its first reader (replies.rendered).
UPDATE message SET html = NULL WHERE html IS NOT NULL;
