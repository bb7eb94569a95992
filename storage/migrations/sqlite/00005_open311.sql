-- Open311 GeoReport v2 requests and data retention.
--
-- A request filed through Open311 is an ordinary report (reports.source =
-- 'open311'); this table keeps what only Open311 has: the token, the API
-- client that filed it, and the reporter's contact, which is stored for
-- staff and never returned through the API. Retention blanks the contact
-- columns with the rest of the report's personal data.

-- +goose Up
CREATE TABLE open311_requests (
    report_id  INTEGER  NOT NULL PRIMARY KEY REFERENCES reports (id),
    token      TEXT     NOT NULL UNIQUE,
    -- The name of the API key that filed it, e.g. hotline12345.
    client     TEXT     NOT NULL,
    email      TEXT     NOT NULL DEFAULT '',
    first_name TEXT     NOT NULL DEFAULT '',
    last_name  TEXT     NOT NULL DEFAULT '',
    device_id  TEXT     NOT NULL DEFAULT '',
    account_id TEXT     NOT NULL DEFAULT '',
    media_url  TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);

-- Retention looks for finished reports by when they last changed.
CREATE INDEX reports_status_updated ON reports (status, updated_at);

-- +goose Down
DROP INDEX reports_status_updated;
DROP TABLE open311_requests;
