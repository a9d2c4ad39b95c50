-- A session's summary (baseline and best values, runs started, the latest phase) is computed
-- from its iterations whenever one changes (see the triggers of the next migration). Iteration
-- rows carry large JSON columns; this covering index answers those lookups from the index alone.
CREATE INDEX iterations_summary ON iterations (session_id, number, run_id, phase, primary_value);
