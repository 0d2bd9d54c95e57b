-- iWmo outbound (docs/iwmo-outbound.md): declaration lines, the outbox feed and the
-- declarations a provider submitted (WMO323).

-- declarations: one line per case per assignment per month (projections/declarations.py),
-- kept by the projection runner like the other read models.
CREATE TABLE IF NOT EXISTS declaration_line (
    case_id       TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    month         TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    doc           TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX IF NOT EXISTS declaration_line_scope
    ON declaration_line (tenant, month, provider, municipality);

-- outbox: one row per recorded fact that the other party must hear of, in log order
-- (position = the fact's notification id). A function of the event log: rebuildable.
CREATE TABLE IF NOT EXISTS iwmo_outbox (
    position      BIGINT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    party_role    TEXT NOT NULL,     -- 'provider' or 'municipality': who receives it
    party         TEXT NOT NULL,     -- provider id or municipality name
    case_id       TEXT NOT NULL,
    version       INTEGER NOT NULL,
    code          TEXT NOT NULL,     -- WMO301, WMO319, WMO305, WMO307, WMO315, WMO317
    recorded_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS iwmo_outbox_party ON iwmo_outbox (tenant, party_role, party, position);

-- submitted declarations (a provider POSTed its WMO323): the month counts as declared.
-- These rows are records of messages received, not a projection: never rebuilt.
CREATE TABLE IF NOT EXISTS iwmo_declaration (
    tenant              TEXT NOT NULL,
    provider            TEXT NOT NULL,
    declaratie_nummer   TEXT NOT NULL,
    municipality        TEXT NOT NULL,
    month               TEXT NOT NULL,
    identificatie       TEXT NOT NULL,
    total_cents         BIGINT NOT NULL,
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (tenant, provider, declaratie_nummer)
);

CREATE TABLE IF NOT EXISTS iwmo_declared_line (
    tenant              TEXT NOT NULL,
    provider            TEXT NOT NULL,
    referentie_nummer   TEXT NOT NULL,
    declaratie_nummer   TEXT NOT NULL,
    municipality        TEXT NOT NULL,
    month               TEXT NOT NULL,
    case_id             TEXT,
    client_ref          TEXT,
    assignment_number   TEXT NOT NULL,
    product_category    TEXT NOT NULL,
    product_code        TEXT NOT NULL,
    period_start        TEXT NOT NULL,
    period_end          TEXT NOT NULL,
    volume              INTEGER NOT NULL,
    unit                TEXT NOT NULL,
    tariff_cents        BIGINT NOT NULL,
    amount_cents        BIGINT NOT NULL,
    debet_credit        TEXT NOT NULL,   -- 'D' or 'C'
    previous_reference  TEXT,            -- VorigReferentieNummer of a credit line
    accepted            INTEGER NOT NULL, -- 1: judged without a refusing retour code
    retour_codes        TEXT NOT NULL,    -- comma-separated WJ001 codes
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (tenant, provider, referentie_nummer)
);
CREATE INDEX IF NOT EXISTS iwmo_declared_line_month
    ON iwmo_declared_line (tenant, provider, municipality, month);
