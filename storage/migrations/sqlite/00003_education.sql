-- The daily quiz: one row per resident and Shanghai day, the answers, the
-- Leitner boxes of questions answered wrongly, and streaks. Days are
-- 'YYYY-MM-DD' in Asia/Shanghai (the quiz's day rolls over at midnight
-- there); times are UTC like everywhere else.

-- +goose Up
CREATE TABLE quiz_days (
    openid       TEXT     NOT NULL,
    day          TEXT     NOT NULL,
    -- The resident's community when the quiz started; '' when unknown.
    community_id TEXT     NOT NULL DEFAULT '',
    -- The questions drawn for the day, as JSON [{"id":…,"box":…}], so an
    -- interrupted quiz resumes with the same ones.
    questions    TEXT     NOT NULL,
    answered     INTEGER  NOT NULL DEFAULT 0,
    correct      INTEGER  NOT NULL DEFAULT 0,
    points       INTEGER  NOT NULL DEFAULT 0,
    started_at   DATETIME NOT NULL,
    finished_at  DATETIME,
    PRIMARY KEY (openid, day)
);
CREATE INDEX quiz_days_day ON quiz_days (day, community_id);

CREATE TABLE quiz_answers (
    openid      TEXT     NOT NULL,
    day         TEXT     NOT NULL,
    question_id TEXT     NOT NULL,
    seq         INTEGER  NOT NULL,
    answer      TEXT     NOT NULL,
    correct     BOOLEAN  NOT NULL,
    points      INTEGER  NOT NULL DEFAULT 0,
    at          DATETIME NOT NULL,
    PRIMARY KEY (openid, day, question_id)
);
CREATE INDEX quiz_answers_question ON quiz_answers (question_id, day);
CREATE INDEX quiz_answers_day ON quiz_answers (day);

-- Where each question a resident has answered stands: box 0 answered
-- rightly at first sight, 1-5 under review (due on due_day), 6 learned.
CREATE TABLE quiz_boxes (
    openid      TEXT     NOT NULL,
    question_id TEXT     NOT NULL,
    box         INTEGER  NOT NULL,
    due_day     TEXT     NOT NULL DEFAULT '',
    last_day    TEXT     NOT NULL,
    updated_at  DATETIME NOT NULL,
    PRIMARY KEY (openid, question_id)
);
CREATE INDEX quiz_boxes_due ON quiz_boxes (openid, due_day);

-- Consecutive days with a finished quiz.
CREATE TABLE quiz_streaks (
    openid     TEXT     NOT NULL PRIMARY KEY,
    last_day   TEXT     NOT NULL,
    run_days   INTEGER  NOT NULL,
    best_days  INTEGER  NOT NULL,
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE quiz_streaks;
DROP TABLE quiz_boxes;
DROP TABLE quiz_answers;
DROP TABLE quiz_days;
