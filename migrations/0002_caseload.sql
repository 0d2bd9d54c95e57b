-- caseload: one row per case for GET /v1/cases (projections/caseload.py). Paged newest
-- referral first by keyset (referred_on DESC, case_id DESC); each filter has an index that
-- ends in that order, so a filtered page reads about `limit` index entries, not the table.
-- Open signals are read from case_signal (the signals projection) by case_id.
CREATE TABLE IF NOT EXISTS caseload (
    case_id       TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    client_ref    TEXT NOT NULL,
    status        TEXT NOT NULL,
    product       TEXT,
    surcharge     BOOLEAN,
    referred_on   TEXT NOT NULL,
    starts_on     TEXT,
    ends_on       TEXT,
    version       INTEGER NOT NULL,
    recorded_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS caseload_newest ON caseload (tenant, referred_on, case_id);
CREATE INDEX IF NOT EXISTS caseload_by_provider ON caseload (tenant, provider, referred_on, case_id);
CREATE INDEX IF NOT EXISTS caseload_by_status ON caseload (tenant, status, referred_on, case_id);
CREATE INDEX IF NOT EXISTS caseload_by_provider_status ON caseload (tenant, provider, status, referred_on, case_id);
CREATE INDEX IF NOT EXISTS caseload_by_municipality ON caseload (tenant, municipality, referred_on, case_id);
CREATE INDEX IF NOT EXISTS caseload_by_product ON caseload (tenant, product, referred_on, case_id);
-- the signal filter first reads the cases with that rule open (index only)
CREATE INDEX IF NOT EXISTS case_signal_by_rule ON case_signal (tenant, rule, closed_on, raised_on, case_id);
