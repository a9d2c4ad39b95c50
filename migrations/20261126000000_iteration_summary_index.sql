-- Session listings summarise each session from its iterations (baseline and best values, runs
-- started, the latest phase). Iteration rows carry large JSON columns, so reading them from
-- the table touches many pages per session; this covering index answers every one of those
-- lookups from the index alone (store::sessions::FACTS names it with INDEXED BY).
CREATE INDEX iterations_summary ON iterations (session_id, number, run_id, phase, primary_value);
