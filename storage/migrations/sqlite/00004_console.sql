-- The staff console: staff accounts, their sessions and WeChat bind codes;
-- what staff manage about each case (assignment, deadline, overdue, listed
-- supervision, rectification) and its rectification photos; the daily
-- overdue digests sent to staff.

-- +goose Up
CREATE TABLE staff (
    id            INTEGER  PRIMARY KEY AUTOINCREMENT,
    username      TEXT     NOT NULL UNIQUE,
    display_name  TEXT     NOT NULL DEFAULT '',
    -- bcrypt; never the password.
    password_hash TEXT     NOT NULL,
    -- admin | street | community | viewer
    role          TEXT     NOT NULL,
    community_id  TEXT     NOT NULL DEFAULT '',
    disabled      BOOLEAN  NOT NULL DEFAULT 0,
    failed_logins INTEGER  NOT NULL DEFAULT 0,
    locked_until  DATETIME,
    -- The staff member's own WeChat account, once bound; NULLs never collide.
    openid        TEXT     UNIQUE,
    bound_at      DATETIME,
    last_login_at DATETIME,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);

-- Console sessions, kept server-side so that logout, a password reset or a
-- disabled account ends them at once on every replica. Only the token's
-- SHA-256 is stored: a leaked table opens no session.
CREATE TABLE staff_sessions (
    token_hash   TEXT     NOT NULL PRIMARY KEY,
    staff_id     INTEGER  NOT NULL REFERENCES staff (id),
    csrf         TEXT     NOT NULL,
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
CREATE INDEX staff_sessions_seen ON staff_sessions (last_seen_at);

-- One-time codes a staff member sends in the chat (绑定 123456) to bind
-- their WeChat account.
CREATE TABLE staff_bind_codes (
    code       TEXT     NOT NULL PRIMARY KEY,
    staff_id   INTEGER  NOT NULL UNIQUE REFERENCES staff (id),
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL
);

ALTER TABLE reports ADD COLUMN assignee_type TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN assignee_id TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN assignee_name TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN deadline DATETIME;
ALTER TABLE reports ADD COLUMN overdue BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN overdue_at DATETIME;
ALTER TABLE reports ADD COLUMN supervised BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN supervising_unit TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN duplicate_of TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN rectification TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN verified_at DATETIME;
ALTER TABLE reports ADD COLUMN closed_at DATETIME;
CREATE INDEX reports_community_status ON reports (community_id, status);
CREATE INDEX reports_overdue_deadline ON reports (overdue, deadline);
CREATE INDEX reports_created ON reports (created_at);

-- Photos of the rectification, uploaded in the console; files live under
-- the data directory.
CREATE TABLE case_photos (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    report_id  INTEGER  NOT NULL REFERENCES reports (id),
    event_id   INTEGER  NOT NULL,
    path       TEXT     NOT NULL,
    sha256     TEXT     NOT NULL,
    size       INTEGER  NOT NULL,
    mime       TEXT     NOT NULL,
    uploaded_by TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX case_photos_report ON case_photos (report_id, id);

-- One overdue digest per staff member per day, with how it went.
CREATE TABLE staff_digests (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    staff_id   INTEGER  NOT NULL,
    day        TEXT     NOT NULL,
    cases      INTEGER  NOT NULL,
    channel    TEXT     NOT NULL DEFAULT '',
    outcome    TEXT     NOT NULL,
    detail     TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    UNIQUE (staff_id, day)
);

-- +goose Down
DROP TABLE staff_digests;
DROP TABLE case_photos;
DROP INDEX reports_created;
DROP INDEX reports_overdue_deadline;
DROP INDEX reports_community_status;
ALTER TABLE reports DROP COLUMN closed_at;
ALTER TABLE reports DROP COLUMN verified_at;
ALTER TABLE reports DROP COLUMN rectification;
ALTER TABLE reports DROP COLUMN duplicate_of;
ALTER TABLE reports DROP COLUMN supervising_unit;
ALTER TABLE reports DROP COLUMN supervised;
ALTER TABLE reports DROP COLUMN overdue_at;
ALTER TABLE reports DROP COLUMN overdue;
ALTER TABLE reports DROP COLUMN deadline;
ALTER TABLE reports DROP COLUMN assignee_name;
ALTER TABLE reports DROP COLUMN assignee_id;
ALTER TABLE reports DROP COLUMN assignee_type;
DROP TABLE staff_bind_codes;
DROP TABLE staff_sessions;
DROP TABLE staff;
