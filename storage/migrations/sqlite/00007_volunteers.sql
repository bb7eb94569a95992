-- Volunteers, patrol points and check-ins, the rewards catalog and the
-- redemptions that hold residents' points until a pickup. The points
-- themselves stay in points_ledger (00002): a hold is a negative entry there
-- and its return a reversing one.
--
-- Times are DATETIME columns holding integer Unix microseconds written from
-- Go (see 00001), never CURRENT_TIMESTAMP.

-- +goose Up
CREATE TABLE volunteers (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    openid       TEXT     NOT NULL UNIQUE,
    name         TEXT     NOT NULL,
    mobile       TEXT     NOT NULL,
    community_id TEXT     NOT NULL,
    -- JSON array of skill names, as listed in content/volunteer.yaml.
    skills       TEXT     NOT NULL DEFAULT '[]',
    -- pending → approved or declined; a declined resident may apply again.
    status       TEXT     NOT NULL DEFAULT 'pending',
    note         TEXT     NOT NULL DEFAULT '',
    decided_by   TEXT     NOT NULL DEFAULT '',
    applied_at   DATETIME NOT NULL,
    decided_at   DATETIME,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX volunteers_status ON volunteers (status, applied_at);

CREATE TABLE patrol_points (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    name         TEXT     NOT NULL,
    community_id TEXT     NOT NULL DEFAULT '',
    -- GCJ-02, as WeChat sends locations.
    lat          REAL     NOT NULL,
    lng          REAL     NOT NULL,
    radius       INTEGER  NOT NULL,
    -- Retired points keep their check-ins but take no new ones.
    active       BOOLEAN  NOT NULL DEFAULT 1,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);

-- One check-in per volunteer, point and Shanghai day (YYYY-MM-DD).
CREATE TABLE patrol_checkins (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    openid     TEXT     NOT NULL,
    point_id   INTEGER  NOT NULL REFERENCES patrol_points (id),
    day        TEXT     NOT NULL,
    lat        REAL     NOT NULL,
    lng        REAL     NOT NULL,
    distance   INTEGER  NOT NULL,
    media_id   TEXT     NOT NULL DEFAULT '',
    pic_url    TEXT     NOT NULL DEFAULT '',
    points     INTEGER  NOT NULL DEFAULT 0,
    at         DATETIME NOT NULL,
    UNIQUE (openid, point_id, day)
);
CREATE INDEX patrol_checkins_day ON patrol_checkins (day, point_id);

CREATE TABLE rewards (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    name        TEXT     NOT NULL,
    description TEXT     NOT NULL DEFAULT '',
    points      INTEGER  NOT NULL,
    -- Left to hand out: a hold takes one off in the same transaction
    -- (UPDATE … WHERE stock > 0), an expiry or cancellation puts it back.
    stock       INTEGER  NOT NULL CHECK (stock >= 0),
    -- At most this many held or picked up per resident; 0 means no limit.
    per_person  INTEGER  NOT NULL DEFAULT 0,
    valid_from  DATETIME NOT NULL,
    valid_to    DATETIME,
    active      BOOLEAN  NOT NULL DEFAULT 1,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

CREATE TABLE redemptions (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    openid      TEXT     NOT NULL,
    reward_id   INTEGER  NOT NULL REFERENCES rewards (id),
    -- The name and price when redeemed: the catalog may change later.
    reward_name TEXT     NOT NULL,
    points      INTEGER  NOT NULL,
    -- The pickup code the resident shows at the desk.
    code        TEXT     NOT NULL UNIQUE,
    -- Makes a redemption idempotent: a repeated confirmation finds the first.
    request_key TEXT     NOT NULL UNIQUE,
    -- held → picked_up, expired or cancelled.
    status      TEXT     NOT NULL DEFAULT 'held',
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    closed_at   DATETIME,
    closed_by   TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX redemptions_openid ON redemptions (openid, reward_id, status);
CREATE INDEX redemptions_status ON redemptions (status, expires_at);

-- The console's export reads the ledger by time.
CREATE INDEX points_ledger_at ON points_ledger (at);

-- +goose Down
DROP INDEX points_ledger_at;
DROP TABLE redemptions;
DROP TABLE rewards;
DROP TABLE patrol_checkins;
DROP TABLE patrol_points;
DROP TABLE volunteers;
