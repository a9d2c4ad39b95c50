-- A session's one-line summary (baseline and best value, runs started, the latest iteration and
-- its phase) kept on the session row, so listing thousands of sessions reads one row each.
-- Triggers keep the columns true in the same transaction as every write that changes them;
-- no Rust code writes them.
ALTER TABLE sessions ADD COLUMN summary_baseline REAL;
ALTER TABLE sessions ADD COLUMN summary_best REAL;
ALTER TABLE sessions ADD COLUMN summary_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN summary_current INTEGER;
ALTER TABLE sessions ADD COLUMN summary_phase TEXT;

CREATE TRIGGER iterations_summary_after_insert AFTER INSERT ON iterations BEGIN
    UPDATE sessions SET
        summary_baseline = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = 0),
        summary_best = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = sessions.best_iteration),
        summary_runs = (SELECT COUNT(*) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.run_id IS NOT NULL),
        summary_current = (SELECT MAX(number) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id),
        summary_phase = (SELECT phase FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id ORDER BY number DESC LIMIT 1)
    WHERE id = NEW.session_id;
END;

CREATE TRIGGER iterations_summary_after_update AFTER UPDATE ON iterations BEGIN
    UPDATE sessions SET
        summary_baseline = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = 0),
        summary_best = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = sessions.best_iteration),
        summary_runs = (SELECT COUNT(*) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.run_id IS NOT NULL),
        summary_current = (SELECT MAX(number) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id),
        summary_phase = (SELECT phase FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id ORDER BY number DESC LIMIT 1)
    WHERE id = NEW.session_id;
END;

CREATE TRIGGER iterations_summary_after_delete AFTER DELETE ON iterations BEGIN
    UPDATE sessions SET
        summary_baseline = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = 0),
        summary_best = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = sessions.best_iteration),
        summary_runs = (SELECT COUNT(*) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.run_id IS NOT NULL),
        summary_current = (SELECT MAX(number) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id),
        summary_phase = (SELECT phase FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id ORDER BY number DESC LIMIT 1)
    WHERE id = OLD.session_id;
END;

CREATE TRIGGER sessions_summary_after_best AFTER UPDATE OF best_iteration ON sessions BEGIN
    UPDATE sessions SET
        summary_best = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = NEW.id AND i.number = NEW.best_iteration)
    WHERE id = NEW.id;
END;

UPDATE sessions SET
    summary_baseline = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = 0),
    summary_best = (SELECT primary_value FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.number = sessions.best_iteration),
    summary_runs = (SELECT COUNT(*) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id AND i.run_id IS NOT NULL),
    summary_current = (SELECT MAX(number) FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id),
    summary_phase = (SELECT phase FROM iterations i INDEXED BY iterations_summary WHERE i.session_id = sessions.id ORDER BY number DESC LIMIT 1);
