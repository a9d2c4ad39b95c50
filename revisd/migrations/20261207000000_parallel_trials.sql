-- Parallel trials: each trial runs in a slot (its GPUs and its own worktree), and a judged
-- trial's decision may start a trial in another free slot. GPU time is spend like LLM dollars.
-- Append-only: never edit a landed migration.

-- The slot a trial runs in (0 for every session with one slot, which is every older one).
ALTER TABLE iterations ADD COLUMN slot INTEGER NOT NULL DEFAULT 0;
-- The devices its run saw (CUDA_VISIBLE_DEVICES), NULL when none were assigned, and the box of
-- executor.hosts it ran on (NULL: the daemon's machine or the one executor.host).
ALTER TABLE iterations ADD COLUMN gpus TEXT;
ALTER TABLE iterations ADD COLUMN host TEXT;
-- On a judged trial whose decision is being made or applied: the free slot the next trial
-- takes, claimed when the decision is recorded so two decisions never take one slot.
ALTER TABLE iterations ADD COLUMN target_slot INTEGER;

-- How many slots the session has (trials at once), fixed when it starts.
ALTER TABLE sessions ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;
-- The highest iteration number given out so far: a decision reserves the next number when it
-- is applied, so a commit made before a crash is found again by that number.
ALTER TABLE sessions ADD COLUMN last_number INTEGER NOT NULL DEFAULT 0;
-- GPU time of finished runs (run time × the slot's GPUs), and what it cost at
-- executor.cost_per_gpu_hour; those dollars count toward --max-cost with llm_usd.
ALTER TABLE sessions ADD COLUMN gpu_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN compute_usd REAL NOT NULL DEFAULT 0;

UPDATE sessions SET last_number = COALESCE((SELECT MAX(number) FROM iterations i WHERE i.session_id = sessions.id), 0);
