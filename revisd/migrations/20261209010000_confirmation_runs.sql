-- guardrails.confirm with parallel trials: a trial whose first run would be the new best gets
-- its confirmation runs at once, one per free slot, each a row here (the trial's own row waits
-- in phase `confirm` and is judged once they are all done). A session with one slot runs them
-- one after another on the trial's own row instead.
CREATE TABLE confirmation_runs (
    session_id       INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- The trial confirmed, and which of its runs this is (2 .. confirm + 1).
    number           INTEGER NOT NULL,
    replicate        INTEGER NOT NULL,
    -- prepare | train | collect | done, as a trial's run.
    phase            TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 1,
    -- The slot it runs in; NULL while it waits for one to be free.
    slot             INTEGER,
    run_id           TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_seconds REAL,
    exit_code        INTEGER,
    failure_reason   TEXT,
    primary_value    REAL,
    -- metrics.holdout of this run (read, never shown to an advisor).
    holdout_value    REAL,
    history_json     TEXT,
    warnings_json    TEXT NOT NULL DEFAULT '[]',
    gpus             TEXT,
    host             TEXT,
    job_id           TEXT,
    queued_seconds   REAL,
    queue_reason     TEXT,
    frozen_hash      TEXT,
    PRIMARY KEY (session_id, number, replicate)
);
