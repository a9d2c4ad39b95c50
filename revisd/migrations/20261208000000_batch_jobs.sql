-- Trials run as batch jobs (Slurm): the scheduler's job id, recorded with the phase it was
-- submitted in, and the time the job waited in the queue (not counted as run time).
ALTER TABLE iterations ADD COLUMN job_id TEXT;
ALTER TABLE iterations ADD COLUMN queued_seconds REAL;
-- Set while the job waits in the queue: the scheduler's reason (Resources, Priority).
ALTER TABLE iterations ADD COLUMN queue_reason TEXT;
