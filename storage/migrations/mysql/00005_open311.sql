-- Open311 GeoReport v2 requests and data retention.
--
-- A request filed through Open311 is an ordinary report (reports.source =
-- 'open311'); this table keeps what only Open311 has: the token, the API
-- client that filed it, and the reporter's contact, which is stored for
-- staff and never returned through the API. Retention blanks the contact
-- columns with the rest of the report's personal data.

-- +goose Up
CREATE TABLE open311_requests (
    report_id  BIGINT        NOT NULL PRIMARY KEY,
    token      VARCHAR(64)   NOT NULL UNIQUE,
    -- The name of the API key that filed it, e.g. hotline12345.
    client     VARCHAR(64)   NOT NULL,
    email      VARCHAR(255)  NOT NULL DEFAULT '',
    first_name VARCHAR(64)   NOT NULL DEFAULT '',
    last_name  VARCHAR(64)   NOT NULL DEFAULT '',
    device_id  VARCHAR(128)  NOT NULL DEFAULT '',
    account_id VARCHAR(128)  NOT NULL DEFAULT '',
    media_url  VARCHAR(1024) NOT NULL DEFAULT '',
    created_at DATETIME(6)   NOT NULL,
    CONSTRAINT open311_requests_report FOREIGN KEY (report_id) REFERENCES reports (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Retention looks for finished reports by when they last changed.
CREATE INDEX reports_status_updated ON reports (status, updated_at);

-- +goose Down
DROP INDEX reports_status_updated ON reports;
DROP TABLE open311_requests;
