-- The flow a resident has open, so a draft lost with the session store can
-- be explained to them.

-- +goose Up
ALTER TABLE users ADD COLUMN draft_flow TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN draft_at DATETIME;

-- +goose Down
ALTER TABLE users DROP COLUMN draft_at;
ALTER TABLE users DROP COLUMN draft_flow;
