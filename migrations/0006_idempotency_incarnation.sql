-- Which process incarnation claimed a pending Idempotency-Key. A process that starts later
-- treats an older incarnation's unfinished claims as free (it died, or another process
-- runs the same request: safe, because the case itself refuses a request key it has seen).
ALTER TABLE idempotency ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
