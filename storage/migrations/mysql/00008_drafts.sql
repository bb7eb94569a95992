-- The flow a resident has open, so a draft lost with the session store can
-- be explained to them.

-- +goose Up
ALTER TABLE users ADD COLUMN draft_flow VARCHAR(32) NOT NULL DEFAULT '', ADD COLUMN draft_at DATETIME(6) NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN draft_at, DROP COLUMN draft_flow;
