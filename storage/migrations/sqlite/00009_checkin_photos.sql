-- A patrol check-in's photo, fetched from WeChat into the data directory
-- like a report's (media ids expire after three days).

-- +goose Up
ALTER TABLE patrol_checkins ADD COLUMN photo_status TEXT NOT NULL DEFAULT '';
ALTER TABLE patrol_checkins ADD COLUMN photo_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE patrol_checkins ADD COLUMN photo_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE patrol_checkins ADD COLUMN photo_path TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE patrol_checkins DROP COLUMN photo_path;
ALTER TABLE patrol_checkins DROP COLUMN photo_size;
ALTER TABLE patrol_checkins DROP COLUMN photo_sha256;
ALTER TABLE patrol_checkins DROP COLUMN photo_status;
