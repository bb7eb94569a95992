-- Times are DATETIME(6) in UTC (the connection pins loc=UTC and
-- time_zone='+00:00'). utf8mb4_bin compares like SQLite's default BINARY
-- collation, so openids and keys that differ only in case stay distinct and
-- lookups behave the same on both backends.

-- +goose Up
CREATE TABLE users (
    openid           VARCHAR(64)  NOT NULL PRIMARY KEY,
    first_seen       DATETIME(6)  NOT NULL,
    -- WeChat lets us send customer-service messages for 48 hours after it.
    last_interaction DATETIME(6)  NOT NULL,
    subscribed       BOOLEAN      NOT NULL DEFAULT FALSE,
    role             VARCHAR(16)  NOT NULL DEFAULT 'resident',
    blocked          BOOLEAN      NOT NULL DEFAULT FALSE,
    -- GCJ-02, as WeChat sends it.
    last_lat         DOUBLE       NULL,
    last_lng         DOUBLE       NULL,
    last_location_at DATETIME(6)  NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The outbox. dedup_key NULL means "no deduplication" (NULLs never collide).
CREATE TABLE jobs (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind         VARCHAR(64)  NOT NULL,
    dedup_key    VARCHAR(255) NULL,
    payload      MEDIUMTEXT   NOT NULL,
    status       VARCHAR(16)  NOT NULL DEFAULT 'pending',
    attempts     INT          NOT NULL DEFAULT 0,
    run_at       DATETIME(6)  NOT NULL,
    locked_until DATETIME(6)  NULL,
    last_error   TEXT         NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    UNIQUE KEY jobs_dedup_key (dedup_key),
    KEY jobs_status_run_at (status, run_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only: corrections are new entries.
CREATE TABLE audit_log (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at           DATETIME(6)  NOT NULL,
    actor        VARCHAR(128) NOT NULL,
    action       VARCHAR(64)  NOT NULL,
    subject_type VARCHAR(64)  NOT NULL DEFAULT '',
    subject_id   VARCHAR(128) NOT NULL DEFAULT '',
    detail       TEXT         NOT NULL,
    KEY audit_log_subject (subject_type, subject_id, at),
    KEY audit_log_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A durable "seen once" guard for inbound pushes whose effects must never repeat.
CREATE TABLE dedup (
    `key`      VARCHAR(128) NOT NULL PRIMARY KEY,
    created_at DATETIME(6)  NOT NULL,
    KEY dedup_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE dedup;
DROP TABLE audit_log;
DROP TABLE jobs;
DROP TABLE users;
