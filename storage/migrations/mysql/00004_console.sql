-- The staff console: staff accounts, their sessions and WeChat bind codes;
-- what staff manage about each case (assignment, deadline, overdue, listed
-- supervision, rectification) and its rectification photos; the daily
-- overdue digests sent to staff.

-- +goose Up
CREATE TABLE staff (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username      VARCHAR(32)  NOT NULL UNIQUE,
    display_name  VARCHAR(64)  NOT NULL DEFAULT '',
    -- bcrypt; never the password.
    password_hash VARCHAR(100) NOT NULL,
    -- admin | street | community | viewer
    role          VARCHAR(16)  NOT NULL,
    community_id  VARCHAR(32)  NOT NULL DEFAULT '',
    disabled      BOOLEAN      NOT NULL DEFAULT FALSE,
    failed_logins INT          NOT NULL DEFAULT 0,
    locked_until  DATETIME(6)  NULL,
    -- The staff member's own WeChat account, once bound; NULLs never collide.
    openid        VARCHAR(64)  NULL UNIQUE,
    bound_at      DATETIME(6)  NULL,
    last_login_at DATETIME(6)  NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Console sessions, kept server-side so that logout, a password reset or a
-- disabled account ends them at once on every replica. Only the token's
-- SHA-256 is stored: a leaked table opens no session.
CREATE TABLE staff_sessions (
    token_hash   CHAR(64)    NOT NULL PRIMARY KEY,
    staff_id     BIGINT      NOT NULL,
    csrf         VARCHAR(64) NOT NULL,
    created_at   DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    INDEX staff_sessions_staff (staff_id),
    INDEX staff_sessions_seen (last_seen_at),
    CONSTRAINT staff_sessions_staff FOREIGN KEY (staff_id) REFERENCES staff (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One-time codes a staff member sends in the chat (绑定 123456) to bind
-- their WeChat account.
CREATE TABLE staff_bind_codes (
    code       VARCHAR(8)  NOT NULL PRIMARY KEY,
    staff_id   BIGINT      NOT NULL UNIQUE,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT staff_bind_codes_staff FOREIGN KEY (staff_id) REFERENCES staff (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE reports
    ADD COLUMN assignee_type    VARCHAR(16)  NOT NULL DEFAULT '',
    ADD COLUMN assignee_id      VARCHAR(32)  NOT NULL DEFAULT '',
    ADD COLUMN assignee_name    VARCHAR(128) NOT NULL DEFAULT '',
    ADD COLUMN deadline         DATETIME(6)  NULL,
    ADD COLUMN overdue          BOOLEAN      NOT NULL DEFAULT FALSE,
    ADD COLUMN overdue_at       DATETIME(6)  NULL,
    ADD COLUMN supervised       BOOLEAN      NOT NULL DEFAULT FALSE,
    ADD COLUMN supervising_unit VARCHAR(128) NOT NULL DEFAULT '',
    ADD COLUMN duplicate_of     VARCHAR(32)  NOT NULL DEFAULT '',
    ADD COLUMN rectification    TEXT         NULL,
    ADD COLUMN verified_at      DATETIME(6)  NULL,
    ADD COLUMN closed_at        DATETIME(6)  NULL,
    ADD INDEX reports_community_status (community_id, status),
    ADD INDEX reports_overdue_deadline (overdue, deadline),
    ADD INDEX reports_created (created_at);

-- Photos of the rectification, uploaded in the console; files live under
-- the data directory.
CREATE TABLE case_photos (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    report_id   BIGINT       NOT NULL,
    event_id    BIGINT       NOT NULL,
    path        VARCHAR(255) NOT NULL,
    sha256      CHAR(64)     NOT NULL,
    size        BIGINT       NOT NULL,
    mime        VARCHAR(32)  NOT NULL,
    uploaded_by VARCHAR(64)  NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    INDEX case_photos_report (report_id, id),
    CONSTRAINT case_photos_report FOREIGN KEY (report_id) REFERENCES reports (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One overdue digest per staff member per day, with how it went.
CREATE TABLE staff_digests (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    staff_id   BIGINT       NOT NULL,
    day        VARCHAR(10)  NOT NULL,
    cases      INT          NOT NULL,
    channel    VARCHAR(16)  NOT NULL DEFAULT '',
    outcome    VARCHAR(32)  NOT NULL,
    detail     VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME(6)  NOT NULL,
    UNIQUE KEY staff_digests_day (staff_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE staff_digests;
DROP TABLE case_photos;
ALTER TABLE reports
    DROP INDEX reports_created,
    DROP INDEX reports_overdue_deadline,
    DROP INDEX reports_community_status,
    DROP COLUMN closed_at,
    DROP COLUMN verified_at,
    DROP COLUMN rectification,
    DROP COLUMN duplicate_of,
    DROP COLUMN supervising_unit,
    DROP COLUMN supervised,
    DROP COLUMN overdue_at,
    DROP COLUMN overdue,
    DROP COLUMN deadline,
    DROP COLUMN assignee_name,
    DROP COLUMN assignee_id,
    DROP COLUMN assignee_type;
DROP TABLE staff_bind_codes;
DROP TABLE staff_sessions;
DROP TABLE staff;
