-- KPIs pre-aggregated and bitemporal (projections/kpi_cells.py): what each case version
-- contributes to the KPI cells tenant x provider x product x municipality x month, one row
-- per contribution with its recorded-time validity [recorded_from, recorded_to). A case
-- version that changes a contribution closes its row and opens a new one; rows are never
-- rewritten otherwise. "KPIs as of T" sums the rows valid at T (recorded_to IS NULL: now).
CREATE TABLE IF NOT EXISTS kpi_item (
    case_id        TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    provider       TEXT NOT NULL,
    municipality   TEXT NOT NULL,
    product        TEXT NOT NULL,   -- '' = any product (each case once); else one of its products
    client_ref     TEXT NOT NULL,   -- returning clients (R-31) are looked up by it
    measure        TEXT NOT NULL,   -- case, intake, decision, start, end, trajectory, down, up,
                                    -- contacts, no_shows, cost, zrm
    grain          TEXT NOT NULL,   -- 'd': pos is a business day, 'm': a month, '': undated
    pos            TEXT NOT NULL,
    ref            TEXT NOT NULL,   -- referral day when the scope test needs it, else ''
    endd           TEXT NOT NULL,   -- end day when the scope test needs it, else ''
    value          TEXT NOT NULL,   -- days (spreads), reason, amount, ZRM domain, or ''
    aux            TEXT NOT NULL,   -- ZRM change; the referral day of an end
    n              INTEGER NOT NULL,
    recorded_from  TEXT NOT NULL,
    recorded_to    TEXT
);
CREATE INDEX IF NOT EXISTS kpi_item_case ON kpi_item (case_id, recorded_to);
CREATE INDEX IF NOT EXISTS kpi_item_now ON kpi_item (tenant, product, measure, pos) WHERE recorded_to IS NULL;
CREATE INDEX IF NOT EXISTS kpi_item_then ON kpi_item (tenant, product, recorded_from);
CREATE INDEX IF NOT EXISTS kpi_item_client ON kpi_item (tenant, client_ref, recorded_from) WHERE measure = 'case' AND product = '';

-- The current KPI cells: the kpi_item rows valid now, summed over the cases of each cell
-- (without case_id and client_ref), kept by the same runner transaction by adding what
-- each batch changed. GET /v1/kpis without as_of reads these; ends (R-31 looks at the
-- client) are read from kpi_item.
CREATE TABLE IF NOT EXISTS kpi_cell (
    tenant        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    product       TEXT NOT NULL,
    measure       TEXT NOT NULL,
    grain         TEXT NOT NULL,
    pos           TEXT NOT NULL,
    ref           TEXT NOT NULL,
    endd          TEXT NOT NULL,
    value         TEXT NOT NULL,
    aux           TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (tenant, product, provider, municipality, measure, grain, pos, ref, endd, value, aux)
);

-- Recorded-time intervals in which a case's kpi_item rows are not exact: a batch that
-- brought more versions of one case than the runner derives one by one (a long history
-- imported at once) wrote its rows at the batch's last version only. KPIs as of an
-- instant inside such an interval are computed from the case summaries instead.
CREATE TABLE IF NOT EXISTS kpi_gap (
    case_id    TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    gap_from   TEXT NOT NULL,
    gap_to     TEXT NOT NULL,
    PRIMARY KEY (case_id, gap_from)
);
CREATE INDEX IF NOT EXISTS kpi_gap_by_tenant ON kpi_gap (tenant, gap_from);
