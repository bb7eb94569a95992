-- Hazard reports, their photos, followers and public timeline; ticket
-- counters; delivery records of notifications; the points ledger.

-- +goose Up
CREATE TABLE reports (
    id           BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ticket       VARCHAR(32)   NOT NULL UNIQUE,
    -- Makes submission idempotent: a repeated submit finds the first report.
    submit_key   VARCHAR(128)  NOT NULL UNIQUE,
    openid       VARCHAR(64)   NOT NULL,
    source       VARCHAR(16)   NOT NULL DEFAULT 'wechat',
    category     VARCHAR(32)   NOT NULL,
    description  TEXT          NOT NULL,
    -- Coordinates as they arrived, in the coordinate system named by
    -- coord_sys: 'gcj02' for WeChat clients in mainland China.
    lat          DOUBLE        NULL,
    lng          DOUBLE        NULL,
    coord_sys    VARCHAR(8)    NOT NULL DEFAULT 'gcj02',
    address      VARCHAR(255)  NOT NULL DEFAULT '',
    community_id VARCHAR(32)   NOT NULL DEFAULT '',
    grid_id      VARCHAR(32)   NOT NULL DEFAULT '',
    phone        VARCHAR(20)   NOT NULL DEFAULT '',
    anonymous    BOOLEAN       NOT NULL DEFAULT FALSE,
    urgent       BOOLEAN       NOT NULL DEFAULT FALSE,
    status       VARCHAR(16)   NOT NULL,
    risk_level   VARCHAR(8)    NOT NULL DEFAULT '',
    created_at   DATETIME(6)   NOT NULL,
    updated_at   DATETIME(6)   NOT NULL,
    INDEX reports_openid_created (openid, created_at),
    INDEX reports_category_status_lat (category, status, lat),
    INDEX reports_status_created (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE report_photos (
    id         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    report_id  BIGINT        NOT NULL,
    seq        INT           NOT NULL,
    media_id   VARCHAR(255)  NOT NULL DEFAULT '',
    pic_url    VARCHAR(1024) NOT NULL DEFAULT '',
    -- pending → stored, or lost when WeChat no longer has it.
    status     VARCHAR(16)   NOT NULL DEFAULT 'pending',
    sha256     CHAR(64)      NOT NULL DEFAULT '',
    size       BIGINT        NOT NULL DEFAULT 0,
    path       VARCHAR(255)  NOT NULL DEFAULT '',
    created_at DATETIME(6)   NOT NULL,
    updated_at DATETIME(6)   NOT NULL,
    UNIQUE KEY report_photos_seq (report_id, seq),
    CONSTRAINT report_photos_report FOREIGN KEY (report_id) REFERENCES reports (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE report_followers (
    report_id  BIGINT      NOT NULL,
    openid     VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (report_id, openid),
    INDEX report_followers_openid (openid),
    CONSTRAINT report_followers_report FOREIGN KEY (report_id) REFERENCES reports (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only history of each report; public entries form the timeline
-- residents see.
CREATE TABLE report_events (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    report_id   BIGINT       NOT NULL,
    at          DATETIME(6)  NOT NULL,
    actor       VARCHAR(64)  NOT NULL,
    from_status VARCHAR(16)  NOT NULL DEFAULT '',
    to_status   VARCHAR(16)  NOT NULL,
    note        TEXT         NOT NULL,
    public      BOOLEAN      NOT NULL DEFAULT TRUE,
    INDEX report_events_report (report_id, id),
    CONSTRAINT report_events_report FOREIGN KEY (report_id) REFERENCES reports (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ticket_counters (
    day VARCHAR(10) NOT NULL PRIMARY KEY,
    n   INT         NOT NULL
) ENGINE=InnoDB;

-- One row per recipient of a status notification, with how it went.
CREATE TABLE notifications (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id   BIGINT       NOT NULL,
    openid     VARCHAR(64)  NOT NULL,
    channel    VARCHAR(16)  NOT NULL DEFAULT '',
    outcome    VARCHAR(32)  NOT NULL,
    detail     VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME(6)  NOT NULL,
    UNIQUE KEY notifications_event_openid (event_id, openid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only: a correction is a new, reversing entry.
CREATE TABLE points_ledger (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    openid      VARCHAR(64)  NOT NULL,
    delta       INT          NOT NULL,
    balance     INT          NOT NULL,
    reason      VARCHAR(255) NOT NULL,
    source_type VARCHAR(32)  NOT NULL,
    source_id   VARCHAR(64)  NOT NULL DEFAULT '',
    idem_key    VARCHAR(191) NOT NULL UNIQUE,
    at          DATETIME(6)  NOT NULL,
    INDEX points_ledger_openid (openid, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The running balance, locked while an entry is added so it never goes
-- below zero.
CREATE TABLE points_balances (
    openid  VARCHAR(64) NOT NULL PRIMARY KEY,
    balance INT         NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE points_balances;
DROP TABLE points_ledger;
DROP TABLE notifications;
DROP TABLE ticket_counters;
DROP TABLE report_events;
DROP TABLE report_followers;
DROP TABLE report_photos;
DROP TABLE reports;
