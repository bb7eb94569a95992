-- Hazard reports, their photos, followers and public timeline; ticket
-- counters; delivery records of notifications; the points ledger.

-- +goose Up
CREATE TABLE reports (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    ticket       TEXT     NOT NULL UNIQUE,
    -- Makes submission idempotent: a repeated submit finds the first report.
    submit_key   TEXT     NOT NULL UNIQUE,
    openid       TEXT     NOT NULL,
    source       TEXT     NOT NULL DEFAULT 'wechat',
    category     TEXT     NOT NULL,
    description  TEXT     NOT NULL,
    -- Coordinates as they arrived, in the coordinate system named by
    -- coord_sys: 'gcj02' for WeChat clients in mainland China.
    lat          REAL,
    lng          REAL,
    coord_sys    TEXT     NOT NULL DEFAULT 'gcj02',
    address      TEXT     NOT NULL DEFAULT '',
    community_id TEXT     NOT NULL DEFAULT '',
    grid_id      TEXT     NOT NULL DEFAULT '',
    phone        TEXT     NOT NULL DEFAULT '',
    anonymous    BOOLEAN  NOT NULL DEFAULT 0,
    urgent       BOOLEAN  NOT NULL DEFAULT 0,
    status       TEXT     NOT NULL,
    risk_level   TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX reports_openid_created ON reports (openid, created_at);
CREATE INDEX reports_category_status_lat ON reports (category, status, lat);
CREATE INDEX reports_status_created ON reports (status, created_at);

CREATE TABLE report_photos (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    report_id  INTEGER  NOT NULL REFERENCES reports (id),
    seq        INTEGER  NOT NULL,
    media_id   TEXT     NOT NULL DEFAULT '',
    pic_url    TEXT     NOT NULL DEFAULT '',
    -- pending → stored, or lost when WeChat no longer has it.
    status     TEXT     NOT NULL DEFAULT 'pending',
    sha256     TEXT     NOT NULL DEFAULT '',
    size       INTEGER  NOT NULL DEFAULT 0,
    path       TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE (report_id, seq)
);

CREATE TABLE report_followers (
    report_id  INTEGER  NOT NULL REFERENCES reports (id),
    openid     TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (report_id, openid)
);
CREATE INDEX report_followers_openid ON report_followers (openid);

-- Append-only history of each report; public entries form the timeline
-- residents see.
CREATE TABLE report_events (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    report_id   INTEGER  NOT NULL REFERENCES reports (id),
    at          DATETIME NOT NULL,
    actor       TEXT     NOT NULL,
    from_status TEXT     NOT NULL DEFAULT '',
    to_status   TEXT     NOT NULL,
    note        TEXT     NOT NULL DEFAULT '',
    public      BOOLEAN  NOT NULL DEFAULT 1
);
CREATE INDEX report_events_report ON report_events (report_id, id);

CREATE TABLE ticket_counters (
    day TEXT    NOT NULL PRIMARY KEY,
    n   INTEGER NOT NULL
);

-- One row per recipient of a status notification, with how it went.
CREATE TABLE notifications (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    event_id   INTEGER  NOT NULL,
    openid     TEXT     NOT NULL,
    channel    TEXT     NOT NULL DEFAULT '',
    outcome    TEXT     NOT NULL,
    detail     TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    UNIQUE (event_id, openid)
);

-- Append-only: a correction is a new, reversing entry.
CREATE TABLE points_ledger (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    openid      TEXT     NOT NULL,
    delta       INTEGER  NOT NULL,
    balance     INTEGER  NOT NULL,
    reason      TEXT     NOT NULL,
    source_type TEXT     NOT NULL,
    source_id   TEXT     NOT NULL DEFAULT '',
    idem_key    TEXT     NOT NULL UNIQUE,
    at          DATETIME NOT NULL
);
CREATE INDEX points_ledger_openid ON points_ledger (openid, id);

-- The running balance, locked while an entry is added so it never goes
-- below zero.
CREATE TABLE points_balances (
    openid  TEXT    NOT NULL PRIMARY KEY,
    balance INTEGER NOT NULL
);

-- +goose Down
DROP TABLE points_balances;
DROP TABLE points_ledger;
DROP TABLE notifications;
DROP TABLE ticket_counters;
DROP TABLE report_events;
DROP TABLE report_followers;
DROP TABLE report_photos;
DROP TABLE reports;
