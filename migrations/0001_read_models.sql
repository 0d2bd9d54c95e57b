-- Read models kept by the projection runner (projections/runner.py). Dates are ISO-8601
-- text so the same SQL sorts and compares them on SQLite and PostgreSQL. Each table is a
-- function of the event log: `caselog projections rebuild` empties and refills it.

CREATE TABLE IF NOT EXISTS projection_tracking (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,   -- last notification id applied, in the same transaction
    updated_at  TEXT NOT NULL
);

-- kpis: one summary per case (milestones, scale moves, monthly activity and cost).
CREATE TABLE IF NOT EXISTS case_summary (
    case_id            TEXT PRIMARY KEY,
    tenant             TEXT NOT NULL,
    provider           TEXT NOT NULL,
    municipality       TEXT NOT NULL,
    client_ref         TEXT NOT NULL,
    status             TEXT NOT NULL,
    referred_on        TEXT NOT NULL,
    ended_on           TEXT,
    version            INTEGER NOT NULL,
    first_recorded_at  TEXT NOT NULL,
    last_recorded_at   TEXT NOT NULL,
    doc                TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_summary_scope ON case_summary (tenant, provider, municipality);
CREATE INDEX IF NOT EXISTS case_summary_client ON case_summary (tenant, client_ref);

CREATE TABLE IF NOT EXISTS case_product (
    case_id  TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    product  TEXT NOT NULL,
    PRIMARY KEY (case_id, product)
);
CREATE INDEX IF NOT EXISTS case_product_by_product ON case_product (tenant, product);

-- consumption: minutes, no-shows, declarable split and amount due per case per month.
CREATE TABLE IF NOT EXISTS consumption_month (
    case_id                 TEXT NOT NULL,
    month                   TEXT NOT NULL,
    tenant                  TEXT NOT NULL,
    provider                TEXT NOT NULL,
    financing               TEXT NOT NULL,
    declarable_minutes      INTEGER NOT NULL,
    non_declarable_minutes  INTEGER NOT NULL,
    no_shows                INTEGER NOT NULL,
    amount_due              TEXT,
    doc                     TEXT NOT NULL,
    PRIMARY KEY (case_id, month)
);
CREATE INDEX IF NOT EXISTS consumption_by_provider ON consumption_month (tenant, provider, month);

-- entitlement: one row per assignment of a case.
CREATE TABLE IF NOT EXISTS entitlement (
    case_id            TEXT NOT NULL,
    seq                INTEGER NOT NULL,
    tenant             TEXT NOT NULL,
    provider           TEXT NOT NULL,
    assignment_number  TEXT NOT NULL,
    product            TEXT NOT NULL,
    valid_from         TEXT NOT NULL,
    valid_until        TEXT NOT NULL,
    hours_granted      TEXT,
    hours_used         TEXT,
    hours_remaining    TEXT,
    periods_billed     TEXT,
    doc                TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- signals: opened on raised_on, closed on closed_on (NULL while open).
CREATE TABLE IF NOT EXISTS case_signal (
    case_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    tenant     TEXT NOT NULL,
    provider   TEXT NOT NULL,
    rule       TEXT NOT NULL,
    raised_on  TEXT NOT NULL,
    closed_on  TEXT,
    detail     TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX IF NOT EXISTS case_signal_scope ON case_signal (tenant, provider, raised_on);
