-- guardrails.early_stop: the step at which a losing run was stopped (its curve, from the
-- progress it reported, is in history_json). NULL for runs that ran to their end.
ALTER TABLE iterations ADD COLUMN stopped_at_step REAL;
