-- A patrol check-in's photo, fetched from WeChat into the data directory
-- like a report's (media ids expire after three days).

-- +goose Up
ALTER TABLE patrol_checkins
    ADD COLUMN photo_status VARCHAR(16)  NOT NULL DEFAULT '',
    ADD COLUMN photo_sha256 CHAR(64)     NOT NULL DEFAULT '',
    ADD COLUMN photo_size   BIGINT       NOT NULL DEFAULT 0,
    ADD COLUMN photo_path   VARCHAR(255) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE patrol_checkins DROP COLUMN photo_path, DROP COLUMN photo_size, DROP COLUMN photo_sha256, DROP COLUMN photo_status;
