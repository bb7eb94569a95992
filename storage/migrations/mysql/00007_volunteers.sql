-- Volunteers, patrol points and check-ins, the rewards catalog and the
-- redemptions that hold residents' points until a pickup. The points
-- themselves stay in points_ledger (00002): a hold is a negative entry there
-- and its return a reversing one.

-- +goose Up
CREATE TABLE volunteers (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    openid       VARCHAR(64)  NOT NULL,
    name         VARCHAR(64)  NOT NULL,
    mobile       VARCHAR(20)  NOT NULL,
    community_id VARCHAR(32)  NOT NULL,
    -- JSON array of skill names, as listed in content/volunteer.yaml.
    skills       VARCHAR(512) NOT NULL DEFAULT '[]',
    -- pending → approved or declined; a declined resident may apply again.
    status       VARCHAR(16)  NOT NULL DEFAULT 'pending',
    note         VARCHAR(255) NOT NULL DEFAULT '',
    decided_by   VARCHAR(64)  NOT NULL DEFAULT '',
    applied_at   DATETIME(6)  NOT NULL,
    decided_at   DATETIME(6)  NULL,
    updated_at   DATETIME(6)  NOT NULL,
    UNIQUE KEY volunteers_openid (openid),
    INDEX volunteers_status (status, applied_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE patrol_points (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(64)  NOT NULL,
    community_id VARCHAR(32)  NOT NULL DEFAULT '',
    -- GCJ-02, as WeChat sends locations.
    lat          DOUBLE       NOT NULL,
    lng          DOUBLE       NOT NULL,
    radius       INT          NOT NULL,
    -- Retired points keep their check-ins but take no new ones.
    active       BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One check-in per volunteer, point and Shanghai day (YYYY-MM-DD).
CREATE TABLE patrol_checkins (
    id         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    openid     VARCHAR(64)   NOT NULL,
    point_id   BIGINT        NOT NULL,
    day        CHAR(10)      NOT NULL,
    lat        DOUBLE        NOT NULL,
    lng        DOUBLE        NOT NULL,
    distance   INT           NOT NULL,
    media_id   VARCHAR(255)  NOT NULL DEFAULT '',
    pic_url    VARCHAR(1024) NOT NULL DEFAULT '',
    points     INT           NOT NULL DEFAULT 0,
    at         DATETIME(6)   NOT NULL,
    UNIQUE KEY patrol_checkins_once (openid, point_id, day),
    INDEX patrol_checkins_day (day, point_id),
    CONSTRAINT patrol_checkins_point FOREIGN KEY (point_id) REFERENCES patrol_points (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE rewards (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(64)  NOT NULL,
    description VARCHAR(255) NOT NULL DEFAULT '',
    points      INT          NOT NULL,
    -- Left to hand out: a hold takes one off in the same transaction
    -- (UPDATE … WHERE stock > 0), an expiry or cancellation puts it back.
    stock       INT          NOT NULL CHECK (stock >= 0),
    -- At most this many held or picked up per resident; 0 means no limit.
    per_person  INT          NOT NULL DEFAULT 0,
    valid_from  DATETIME(6)  NOT NULL,
    valid_to    DATETIME(6)  NULL,
    active      BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE redemptions (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    openid      VARCHAR(64)  NOT NULL,
    reward_id   BIGINT       NOT NULL,
    -- The name and price when redeemed: the catalog may change later.
    reward_name VARCHAR(64)  NOT NULL,
    points      INT          NOT NULL,
    -- The pickup code the resident shows at the desk.
    code        VARCHAR(16)  NOT NULL,
    -- Makes a redemption idempotent: a repeated confirmation finds the first.
    request_key VARCHAR(191) NOT NULL,
    -- held → picked_up, expired or cancelled.
    status      VARCHAR(16)  NOT NULL DEFAULT 'held',
    created_at  DATETIME(6)  NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    closed_at   DATETIME(6)  NULL,
    closed_by   VARCHAR(64)  NOT NULL DEFAULT '',
    UNIQUE KEY redemptions_code (code),
    UNIQUE KEY redemptions_request_key (request_key),
    INDEX redemptions_openid (openid, reward_id, status),
    INDEX redemptions_status (status, expires_at),
    CONSTRAINT redemptions_reward FOREIGN KEY (reward_id) REFERENCES rewards (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The console's export reads the ledger by time.
CREATE INDEX points_ledger_at ON points_ledger (at);

-- +goose Down
DROP INDEX points_ledger_at ON points_ledger;
DROP TABLE redemptions;
DROP TABLE rewards;
DROP TABLE patrol_checkins;
DROP TABLE patrol_points;
DROP TABLE volunteers;
