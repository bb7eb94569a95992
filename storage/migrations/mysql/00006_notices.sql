-- Notices and early warnings staff broadcast, one delivery row per
-- recipient, mass-send batches, WeChat's send reports that arrived before
-- (or without) their delivery row, residents' notice settings, and the
-- monthly mass-send counts per resident.

-- +goose Up
CREATE TABLE notices (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- notice | warning
    kind             VARCHAR(16)  NOT NULL,
    -- red | orange | yellow | blue for warnings, '' for notices
    level            VARCHAR(8)   NOT NULL DEFAULT '',
    -- hazard type id from notices.yaml
    hazard           VARCHAR(32)  NOT NULL DEFAULT '',
    -- CAP msgType: alert | update | cancel; refs is the notice updated or lifted
    msg_type         VARCHAR(8)   NOT NULL DEFAULT 'alert',
    refs             BIGINT       NULL,
    title            VARCHAR(255) NOT NULL,
    body             TEXT         NOT NULL,
    instruction      TEXT         NOT NULL,
    -- JSON: {"kind": "all" | "communities" | "grids" | "volunteers" | "near" | "tag", ...}
    audience         TEXT         NOT NULL,
    -- audience.kind, so that 最新通知 can list all-followers notices to everyone
    audience_kind    VARCHAR(16)  NOT NULL DEFAULT 'all',
    -- draft → awaiting_approval → scheduled → sending → sent, or cancelled
    state            VARCHAR(24)  NOT NULL,
    exercise         BOOLEAN      NOT NULL DEFAULT FALSE,
    send_at          DATETIME(6)  NULL,
    valid_from       DATETIME(6)  NULL,
    valid_until      DATETIME(6)  NULL,
    created_by       VARCHAR(128) NOT NULL,
    created_by_name  VARCHAR(64)  NOT NULL DEFAULT '',
    approved_by      VARCHAR(128) NOT NULL DEFAULT '',
    approved_by_name VARCHAR(64)  NOT NULL DEFAULT '',
    approved_at      DATETIME(6)  NULL,
    reject_note      VARCHAR(500) NOT NULL DEFAULT '',
    cancelled_by     VARCHAR(128) NOT NULL DEFAULT '',
    cancelled_at     DATETIME(6)  NULL,
    cancel_reason    VARCHAR(500) NOT NULL DEFAULT '',
    superseded_by    BIGINT       NULL,
    -- when sending started: CAP's sent
    published_at     DATETIME(6)  NULL,
    finished_at      DATETIME(6)  NULL,
    -- Resolving the audience into delivery rows runs in chunks ordered by
    -- openid and resumes after a crash from the last openid done.
    expand_cursor    VARCHAR(64)  NOT NULL DEFAULT '',
    expanded         BOOLEAN      NOT NULL DEFAULT FALSE,
    recipients       INT          NOT NULL DEFAULT 0,
    -- '' | list | all | tag: how the all-followers mass send goes, decided when sending starts
    mass_mode        VARCHAR(8)   NOT NULL DEFAULT '',
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    KEY notices_state (state, send_at),
    KEY notices_published (published_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per recipient of a notice. state: pending → sending → sent |
-- failed, or massq (waiting for a mass send) or cancelled. due_at is when a
-- pending row may be sent, or when a sending row's lease runs out; a row
-- found sending after its lease is "in doubt" (its sender died) and doubt
-- stays set.
CREATE TABLE notice_deliveries (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    notice_id  BIGINT       NOT NULL,
    openid     VARCHAR(64)  NOT NULL,
    state      VARCHAR(16)  NOT NULL,
    due_at     DATETIME(6)  NOT NULL,
    attempts   INT          NOT NULL DEFAULT 0,
    -- the first claim: WeChat's send reports for an attempt in doubt come after it
    attempt_at DATETIME(6)  NULL,
    doubt      BOOLEAN      NOT NULL DEFAULT FALSE,
    -- custom | template | mass
    channel    VARCHAR(16)  NOT NULL DEFAULT '',
    msgid      BIGINT       NULL,
    -- the mass batch (its clientmsgid) that carries this row
    batch      VARCHAR(64)  NULL,
    reason     VARCHAR(32)  NOT NULL DEFAULT '',
    detail     VARCHAR(255) NOT NULL DEFAULT '',
    confirmed  BOOLEAN      NOT NULL DEFAULT FALSE,
    sent_at    DATETIME(6)  NULL,
    updated_at DATETIME(6)  NOT NULL,
    UNIQUE KEY notice_deliveries_recipient (notice_id, openid),
    KEY notice_deliveries_due (state, due_at),
    KEY notice_deliveries_notice (notice_id, state),
    KEY notice_deliveries_openid (openid),
    KEY notice_deliveries_msgid (msgid),
    KEY notice_deliveries_batch (batch),
    CONSTRAINT notice_deliveries_notice FOREIGN KEY (notice_id) REFERENCES notices (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One mass-send call; clientmsgid makes WeChat refuse a repeat (45065), so
-- a batch whose answer was lost is sent again safely.
CREATE TABLE notice_mass_batches (
    clientmsgid VARCHAR(64)  NOT NULL PRIMARY KEY,
    notice_id   BIGINT       NOT NULL,
    -- list | all | tag
    mode        VARCHAR(8)   NOT NULL,
    -- pending | sending | sent | failed | cancelled
    state       VARCHAR(16)  NOT NULL,
    due_at      DATETIME(6)  NOT NULL,
    attempts    INT          NOT NULL DEFAULT 0,
    size        INT          NOT NULL DEFAULT 0,
    msg_id      BIGINT       NULL,
    -- the Beijing-time month (2006-01) it counts against
    month       CHAR(7)      NOT NULL,
    last_error  VARCHAR(255) NOT NULL DEFAULT '',
    -- from MASSSENDJOBFINISH
    report      VARCHAR(64)  NOT NULL DEFAULT '',
    total       BIGINT       NOT NULL DEFAULT 0,
    filtered    BIGINT       NOT NULL DEFAULT 0,
    sent        BIGINT       NOT NULL DEFAULT 0,
    errors      BIGINT       NOT NULL DEFAULT 0,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    KEY notice_mass_batches_due (state, due_at),
    KEY notice_mass_batches_notice (notice_id),
    KEY notice_mass_batches_msg (msg_id),
    CONSTRAINT notice_mass_batches_notice FOREIGN KEY (notice_id) REFERENCES notices (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- How many mass messages by openid list each resident got in a month:
-- WeChat drops a fifth.
CREATE TABLE notice_mass_counts (
    openid VARCHAR(64) NOT NULL,
    month  CHAR(7)     NOT NULL,
    n      INT         NOT NULL,
    PRIMARY KEY (openid, month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- TEMPLATESENDJOBFINISH reports that matched no delivery row when they
-- arrived: they raced ahead of our own record, or belong to an attempt
-- whose sender died before recording it.
CREATE TABLE notice_receipts (
    msgid      BIGINT      NOT NULL PRIMARY KEY,
    openid     VARCHAR(64) NOT NULL,
    status     VARCHAR(64) NOT NULL,
    at         DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY notice_receipts_openid (openid, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A resident's choice under 通知设置: muted residents get only orange and
-- red warnings.
CREATE TABLE notice_prefs (
    openid     VARCHAR(64) NOT NULL PRIMARY KEY,
    muted      BOOLEAN     NOT NULL DEFAULT FALSE,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE notice_prefs;
DROP TABLE notice_receipts;
DROP TABLE notice_mass_counts;
DROP TABLE notice_mass_batches;
DROP TABLE notice_deliveries;
DROP TABLE notices;
