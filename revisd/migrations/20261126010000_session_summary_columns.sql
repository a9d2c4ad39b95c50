-- A session's one-line summary (baseline and best value, runs started, the latest iteration and
-- its phase) kept on the session row, so listing thousands of sessions reads one row each.
-- Triggers keep the columns true in the same transaction as every write that changes them;
-- no Rust code writes them. The facts are defined once, by the view; the triggers copy it.
ALTER TABLE sessions ADD COLUMN summary_baseline REAL;
ALTER TABLE sessions ADD COLUMN summary_best REAL;
ALTER TABLE sessions ADD COLUMN summary_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN summary_current INTEGER;
ALTER TABLE sessions ADD COLUMN summary_phase TEXT;

CREATE VIEW session_summary_facts AS
SELECT
    s.id AS session_id,
    (SELECT primary_value FROM iterations i INDEXED BY iterations_summary
        WHERE i.session_id = s.id AND i.number = 0) AS baseline,
    (SELECT primary_value FROM iterations i INDEXED BY iterations_summary
        WHERE i.session_id = s.id AND i.number = s.best_iteration) AS best,
    (SELECT COUNT(*) FROM iterations i INDEXED BY iterations_summary
        WHERE i.session_id = s.id AND i.run_id IS NOT NULL) AS runs,
    (SELECT MAX(number) FROM iterations i INDEXED BY iterations_summary
        WHERE i.session_id = s.id) AS current,
    (SELECT phase FROM iterations i INDEXED BY iterations_summary
        WHERE i.session_id = s.id ORDER BY number DESC LIMIT 1) AS phase
FROM sessions s;

CREATE TRIGGER iterations_summary_after_insert AFTER INSERT ON iterations BEGIN
    UPDATE sessions SET (summary_baseline, summary_best, summary_runs, summary_current, summary_phase) =
        (SELECT baseline, best, runs, current, phase FROM session_summary_facts f WHERE f.session_id = sessions.id)
    WHERE id = NEW.session_id;
END;

CREATE TRIGGER iterations_summary_after_update AFTER UPDATE ON iterations BEGIN
    UPDATE sessions SET (summary_baseline, summary_best, summary_runs, summary_current, summary_phase) =
        (SELECT baseline, best, runs, current, phase FROM session_summary_facts f WHERE f.session_id = sessions.id)
    WHERE id = NEW.session_id;
END;

CREATE TRIGGER iterations_summary_after_delete AFTER DELETE ON iterations BEGIN
    UPDATE sessions SET (summary_baseline, summary_best, summary_runs, summary_current, summary_phase) =
        (SELECT baseline, best, runs, current, phase FROM session_summary_facts f WHERE f.session_id = sessions.id)
    WHERE id = OLD.session_id;
END;

CREATE TRIGGER sessions_summary_after_best AFTER UPDATE OF best_iteration ON sessions BEGIN
    UPDATE sessions SET summary_best = (SELECT best FROM session_summary_facts f WHERE f.session_id = NEW.id)
    WHERE id = NEW.id;
END;

UPDATE sessions SET (summary_baseline, summary_best, summary_runs, summary_current, summary_phase) =
    (SELECT baseline, best, runs, current, phase FROM session_summary_facts f WHERE f.session_id = sessions.id);
