-- Idempotency-Key: the first response to a write, kept so a retry (even after a restart)
-- gets the same answer and the write is applied at most once.
CREATE TABLE IF NOT EXISTS idempotency (
    tenant        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    headers       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant, actor, key)
);
