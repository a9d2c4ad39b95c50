-- Parallel trials, second part: batch decisions and where each trial's decision came from.

-- Changes an advisor proposed at once for other free slots, each its own trial: the next
-- judged trials deciding for a free slot take them in order (a JSON list of decisions).
ALTER TABLE sessions ADD COLUMN decision_queue TEXT NOT NULL DEFAULT '[]';
-- The judged trial whose decision produced this trial (its transcripts are kept under it).
ALTER TABLE iterations ADD COLUMN decided_by INTEGER;
