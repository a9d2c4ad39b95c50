-- metrics.holdout: the holdout metric's value of each run of a promoted trial (the baseline,
-- an improvement), as a JSON list; NULL for every other trial, whose holdout is never kept.
ALTER TABLE iterations ADD COLUMN holdout_json TEXT;
