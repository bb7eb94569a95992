-- Times are DATETIME columns holding integer Unix microseconds (UTC): the
-- driver binds time.Time that way and reads DATETIME columns back as UTC
-- time.Time (see storage.Open). They are always written from Go, never with
-- CURRENT_TIMESTAMP, which would store text.

-- +goose Up
CREATE TABLE users (
    openid           TEXT     NOT NULL PRIMARY KEY,
    first_seen       DATETIME NOT NULL,
    -- WeChat lets us send customer-service messages for 48 hours after it.
    last_interaction DATETIME NOT NULL,
    subscribed       BOOLEAN  NOT NULL DEFAULT 0,
    role             TEXT     NOT NULL DEFAULT 'resident',
    blocked          BOOLEAN  NOT NULL DEFAULT 0,
    -- GCJ-02, as WeChat sends it.
    last_lat         REAL,
    last_lng         REAL,
    last_location_at DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);

-- The outbox. dedup_key NULL means "no deduplication" (NULLs never collide).
CREATE TABLE jobs (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    kind         TEXT     NOT NULL,
    dedup_key    TEXT     UNIQUE,
    payload      TEXT     NOT NULL,
    status       TEXT     NOT NULL DEFAULT 'pending',
    attempts     INTEGER  NOT NULL DEFAULT 0,
    run_at       DATETIME NOT NULL,
    locked_until DATETIME,
    last_error   TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX jobs_status_run_at ON jobs (status, run_at);

-- Append-only: corrections are new entries.
CREATE TABLE audit_log (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    at           DATETIME NOT NULL,
    actor        TEXT     NOT NULL,
    action       TEXT     NOT NULL,
    subject_type TEXT     NOT NULL DEFAULT '',
    subject_id   TEXT     NOT NULL DEFAULT '',
    detail       TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- A durable "seen once" guard for inbound pushes whose effects must never repeat.
CREATE TABLE dedup (
    `key`      TEXT     NOT NULL PRIMARY KEY,
    created_at DATETIME NOT NULL
);
CREATE INDEX dedup_created_at ON dedup (created_at);

-- +goose Down
DROP TABLE dedup;
DROP TABLE audit_log;
DROP TABLE jobs;
DROP TABLE users;
