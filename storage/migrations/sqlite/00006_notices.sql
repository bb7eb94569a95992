-- Notices and early warnings staff broadcast, one delivery row per
-- recipient, mass-send batches, WeChat's send reports that arrived before
-- (or without) their delivery row, residents' notice settings, and the
-- monthly mass-send counts per resident.

-- +goose Up
CREATE TABLE notices (
    id               INTEGER  PRIMARY KEY AUTOINCREMENT,
    -- notice | warning
    kind             TEXT     NOT NULL,
    -- red | orange | yellow | blue for warnings, '' for notices
    level            TEXT     NOT NULL DEFAULT '',
    -- hazard type id from notices.yaml
    hazard           TEXT     NOT NULL DEFAULT '',
    -- CAP msgType: alert | update | cancel; refs is the notice updated or lifted
    msg_type         TEXT     NOT NULL DEFAULT 'alert',
    refs             INTEGER,
    title            TEXT     NOT NULL,
    body             TEXT     NOT NULL,
    instruction      TEXT     NOT NULL DEFAULT '',
    -- JSON: {"kind": "all" | "communities" | "grids" | "volunteers" | "near" | "tag", ...}
    audience         TEXT     NOT NULL,
    -- audience.kind, so that 最新通知 can list all-followers notices to everyone
    audience_kind    TEXT     NOT NULL DEFAULT 'all',
    -- draft → awaiting_approval → scheduled → sending → sent, or cancelled
    state            TEXT     NOT NULL,
    exercise         BOOLEAN  NOT NULL DEFAULT 0,
    send_at          DATETIME,
    valid_from       DATETIME,
    valid_until      DATETIME,
    created_by       TEXT     NOT NULL,
    created_by_name  TEXT     NOT NULL DEFAULT '',
    approved_by      TEXT     NOT NULL DEFAULT '',
    approved_by_name TEXT     NOT NULL DEFAULT '',
    approved_at      DATETIME,
    reject_note      TEXT     NOT NULL DEFAULT '',
    cancelled_by     TEXT     NOT NULL DEFAULT '',
    cancelled_at     DATETIME,
    cancel_reason    TEXT     NOT NULL DEFAULT '',
    superseded_by    INTEGER,
    -- when sending started: CAP's sent
    published_at     DATETIME,
    finished_at      DATETIME,
    -- Resolving the audience into delivery rows runs in chunks ordered by
    -- openid and resumes after a crash from the last openid done.
    expand_cursor    TEXT     NOT NULL DEFAULT '',
    expanded         BOOLEAN  NOT NULL DEFAULT 0,
    recipients       INTEGER  NOT NULL DEFAULT 0,
    -- '' | list | all | tag: how the all-followers mass send goes, decided when sending starts
    mass_mode        TEXT     NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX notices_state ON notices (state, send_at);
CREATE INDEX notices_published ON notices (published_at);

-- One row per recipient of a notice. state: pending → sending → sent |
-- failed, or massq (waiting for a mass send) or cancelled. due_at is when a
-- pending row may be sent, or when a sending row's lease runs out; a row
-- found sending after its lease is "in doubt" (its sender died) and doubt
-- stays set.
CREATE TABLE notice_deliveries (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    notice_id  INTEGER  NOT NULL REFERENCES notices (id),
    openid     TEXT     NOT NULL,
    state      TEXT     NOT NULL,
    due_at     DATETIME NOT NULL,
    attempts   INTEGER  NOT NULL DEFAULT 0,
    -- the first claim: WeChat's send reports for an attempt in doubt come after it
    attempt_at DATETIME,
    doubt      BOOLEAN  NOT NULL DEFAULT 0,
    -- custom | template | mass
    channel    TEXT     NOT NULL DEFAULT '',
    msgid      INTEGER,
    -- the mass batch (its clientmsgid) that carries this row
    batch      TEXT,
    reason     TEXT     NOT NULL DEFAULT '',
    detail     TEXT     NOT NULL DEFAULT '',
    confirmed  BOOLEAN  NOT NULL DEFAULT 0,
    sent_at    DATETIME,
    updated_at DATETIME NOT NULL,
    UNIQUE (notice_id, openid)
);
CREATE INDEX notice_deliveries_due ON notice_deliveries (state, due_at);
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice_id, state);
CREATE INDEX notice_deliveries_openid ON notice_deliveries (openid);
CREATE INDEX notice_deliveries_msgid ON notice_deliveries (msgid);
CREATE INDEX notice_deliveries_batch ON notice_deliveries (batch);

-- One mass-send call; clientmsgid makes WeChat refuse a repeat (45065), so
-- a batch whose answer was lost is sent again safely.
CREATE TABLE notice_mass_batches (
    clientmsgid TEXT     NOT NULL PRIMARY KEY,
    notice_id   INTEGER  NOT NULL REFERENCES notices (id),
    -- list | all | tag
    mode        TEXT     NOT NULL,
    -- pending | sending | sent | failed | cancelled
    state       TEXT     NOT NULL,
    due_at      DATETIME NOT NULL,
    attempts    INTEGER  NOT NULL DEFAULT 0,
    size        INTEGER  NOT NULL DEFAULT 0,
    msg_id      INTEGER,
    -- the Beijing-time month (2006-01) it counts against
    month       TEXT     NOT NULL,
    last_error  TEXT     NOT NULL DEFAULT '',
    -- from MASSSENDJOBFINISH
    report      TEXT     NOT NULL DEFAULT '',
    total       INTEGER  NOT NULL DEFAULT 0,
    filtered    INTEGER  NOT NULL DEFAULT 0,
    sent        INTEGER  NOT NULL DEFAULT 0,
    errors      INTEGER  NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
CREATE INDEX notice_mass_batches_due ON notice_mass_batches (state, due_at);
CREATE INDEX notice_mass_batches_notice ON notice_mass_batches (notice_id);
CREATE INDEX notice_mass_batches_msg ON notice_mass_batches (msg_id);

-- How many mass messages by openid list each resident got in a month:
-- WeChat drops a fifth.
CREATE TABLE notice_mass_counts (
    openid TEXT    NOT NULL,
    month  TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (openid, month)
);

-- TEMPLATESENDJOBFINISH reports that matched no delivery row when they
-- arrived: they raced ahead of our own record, or belong to an attempt
-- whose sender died before recording it.
CREATE TABLE notice_receipts (
    msgid      INTEGER  NOT NULL PRIMARY KEY,
    openid     TEXT     NOT NULL,
    status     TEXT     NOT NULL,
    at         DATETIME NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX notice_receipts_openid ON notice_receipts (openid, at);

-- A resident's choice under 通知设置: muted residents get only orange and
-- red warnings.
CREATE TABLE notice_prefs (
    openid     TEXT     NOT NULL PRIMARY KEY,
    muted      BOOLEAN  NOT NULL DEFAULT 0,
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE notice_prefs;
DROP TABLE notice_receipts;
DROP TABLE notice_mass_counts;
DROP TABLE notice_mass_batches;
DROP TABLE notice_deliveries;
DROP TABLE notices;
