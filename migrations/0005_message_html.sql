-- depends: 0004_password_chosen_by_the_owner
-- An answer's safe HTML, rendered once: when the answer is stored, or, for a row stored
-- before this column existed (or cleared because the rendering changed), by the first reader.
-- NULL means "not rendered yet"; a visitor's own messages never get one.
ALTER TABLE message ADD COLUMN html text;
