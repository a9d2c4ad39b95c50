-- Sessions, their iterations and their event log. Append-only: never edit a landed migration.

CREATE TABLE sessions (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL,
    project              TEXT NOT NULL,
    branch               TEXT NOT NULL,
    worktree             TEXT NOT NULL,
    base_branch          TEXT NOT NULL,
    base_commit          TEXT NOT NULL,
    -- queued | running | paused | stopped | completed | failed
    state                TEXT NOT NULL,
    stop_reason          TEXT,
    stop_detail          TEXT,
    advisor              TEXT NOT NULL,
    -- The revis.yaml the session runs with, as parsed when it started (JSON).
    config_json          TEXT NOT NULL,
    primary_metric       TEXT NOT NULL,
    minimize             INTEGER NOT NULL,
    target               REAL,
    budget_seconds       REAL,
    max_iterations       INTEGER,
    max_cost             REAL,
        -- Active time: seconds banked while the session ran before, plus now - active_since while
    -- it runs (so time the daemon was down while training went on counts too).
    active_seconds       REAL NOT NULL DEFAULT 0,
    active_since         TEXT,
    llm_usd              REAL NOT NULL DEFAULT 0,
    -- NULL | 'now' | 'after_run': durable so a stop survives a daemon restart.
    stop_requested       TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
        best_iteration       INTEGER,
    -- Run-to-run noise of the baseline (2 × std dev of its replicates); 0 without replicates.
    noise_floor          REAL NOT NULL DEFAULT 0,
    -- The commit revis/<name> is expected to point at; anything else means the user moved it.
    head_commit          TEXT,
    -- revis.yaml as last seen, to report edits made while the session runs.
        config_text          TEXT,
    -- The pull request `revis pr` opened for the session.
    pr_url               TEXT,
    created_at           TEXT NOT NULL,
    ended_at             TEXT
);

-- Names are unique per project; the same name may be used in another project.
CREATE UNIQUE INDEX sessions_project_name ON sessions (project, name);

CREATE TABLE iterations (
    session_id       INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    -- prepare | train | collect | advise | apply | commit | done
    phase            TEXT NOT NULL,
    -- running | succeeded | failed | interrupted
    state            TEXT NOT NULL,
    -- baseline | improved | no_improvement | failed | interrupted
    outcome          TEXT,
        attempt          INTEGER NOT NULL DEFAULT 1,
    -- Baseline replicates: which run of iteration 0 this is, and the values of those done.
    replicate        INTEGER NOT NULL DEFAULT 1,
    replicates_json  TEXT NOT NULL DEFAULT '[]',
    -- The iteration whose state this one started from (ratchet).
    parent           INTEGER,
    command          TEXT NOT NULL,
    commit_sha       TEXT,
    change_summary   TEXT,
    rationale        TEXT,
    hypothesis       TEXT,
    changes_json     TEXT NOT NULL DEFAULT '[]',
    -- Values of the search-space parameters this iteration ran with.
    params_json      TEXT NOT NULL DEFAULT '{}',
    primary_value    REAL,
        metrics_json     TEXT NOT NULL DEFAULT '{}',
    -- The primary metric's curve [[step, value], ...] when the source keeps one (W&B, MLflow).
    history_json     TEXT,
    warnings_json    TEXT NOT NULL DEFAULT '[]',
    failure_reason   TEXT,
    exit_code        INTEGER,
    run_id           TEXT,
    -- The advisor's decision made after this iteration, kept so apply can be redone.
    decision_json    TEXT,
        -- What apply produced (next command, applied changes), kept so commit can be redone.
    pending_json     TEXT,
    -- LLM decisions made after this iteration: tries so far, and their summed usage and cost.
        decision_tries   INTEGER NOT NULL DEFAULT 0,
        decision_llm_json TEXT,
    -- A code change handed to a coding agent after this iteration: approval, failures so far.
    handoff_json     TEXT,
    -- On the iteration a handoff produced: {agent, summary, cost_usd, files, diff, duration}.
    agent_json       TEXT,
    -- Hash of the files matched by context.frozen when this iteration ran.
    frozen_hash      TEXT,
    -- On the iteration a decision produced: {model, calls, tokens..., usd} of that decision.
    llm_json         TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_seconds REAL,
    PRIMARY KEY (session_id, number)
);

CREATE TABLE events (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    iteration  INTEGER,
    message    TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (session_id, seq)
);
