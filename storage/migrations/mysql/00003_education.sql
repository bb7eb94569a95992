-- The daily quiz: one row per resident and Shanghai day, the answers, the
-- Leitner boxes of questions answered wrongly, and streaks. Days are
-- 'YYYY-MM-DD' in Asia/Shanghai (the quiz's day rolls over at midnight
-- there); times are DATETIME(6) in UTC like everywhere else.

-- +goose Up
CREATE TABLE quiz_days (
    openid       VARCHAR(64)  NOT NULL,
    day          CHAR(10)     NOT NULL,
    -- The resident's community when the quiz started; '' when unknown.
    community_id VARCHAR(32)  NOT NULL DEFAULT '',
    -- The questions drawn for the day, as JSON [{"id":…,"box":…}], so an
    -- interrupted quiz resumes with the same ones.
    questions    TEXT         NOT NULL,
    answered     INT          NOT NULL DEFAULT 0,
    correct      INT          NOT NULL DEFAULT 0,
    points       INT          NOT NULL DEFAULT 0,
    started_at   DATETIME(6)  NOT NULL,
    finished_at  DATETIME(6)  NULL,
    PRIMARY KEY (openid, day),
    KEY quiz_days_day (day, community_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE quiz_answers (
    openid      VARCHAR(64)  NOT NULL,
    day         CHAR(10)     NOT NULL,
    question_id VARCHAR(64)  NOT NULL,
    seq         INT          NOT NULL,
    answer      VARCHAR(16)  NOT NULL,
    correct     BOOLEAN      NOT NULL,
    points      INT          NOT NULL DEFAULT 0,
    at          DATETIME(6)  NOT NULL,
    PRIMARY KEY (openid, day, question_id),
    KEY quiz_answers_question (question_id, day),
    KEY quiz_answers_day (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Where each question a resident has answered stands: box 0 answered
-- rightly at first sight, 1-5 under review (due on due_day), 6 learned.
CREATE TABLE quiz_boxes (
    openid      VARCHAR(64)  NOT NULL,
    question_id VARCHAR(64)  NOT NULL,
    box         INT          NOT NULL,
    due_day     CHAR(10)     NOT NULL DEFAULT '',
    last_day    CHAR(10)     NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (openid, question_id),
    KEY quiz_boxes_due (openid, due_day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Consecutive days with a finished quiz.
CREATE TABLE quiz_streaks (
    openid     VARCHAR(64)  NOT NULL PRIMARY KEY,
    last_day   CHAR(10)     NOT NULL,
    run_days   INT          NOT NULL,
    best_days  INT          NOT NULL,
    updated_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE quiz_streaks;
DROP TABLE quiz_boxes;
DROP TABLE quiz_answers;
DROP TABLE quiz_days;
