-- KPIs as of a past instant for whole months (projections/kpi_cells.py): the changes to the
-- kpi_cell cells, summed per recorded month. Every kpi_item row (but the ends, read from
-- kpi_item as for kpi_cell) adds n to its cell in the month of its recorded_from and, once
-- closed, takes n off in the month of its recorded_to; the runner keeps these sums in the
-- transaction that writes the rows. The cells as of an instant T are the sums over the
-- months before T's month plus the kpi_item rows opened and closed in T's month up to T.
CREATE TABLE IF NOT EXISTS kpi_cell_bucket (
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
    bucket        TEXT NOT NULL,   -- recorded month, YYYY-MM (UTC)
    n             INTEGER NOT NULL,
    PRIMARY KEY (tenant, product, provider, municipality, measure, grain, pos, ref, endd, value, aux, bucket)
);

-- the rows closed in T's month (those opened in it: kpi_item_then)
CREATE INDEX IF NOT EXISTS kpi_item_closed ON kpi_item (tenant, product, recorded_to) WHERE recorded_to IS NOT NULL;

-- the rows already written: the same sums, from kpi_item (the cell of a row as
-- kpi_cells.cell: month resolution, a referral or end month kept only on the other side)
INSERT INTO kpi_cell_bucket (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, bucket, n)
SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, bucket, SUM(n)
FROM (
    SELECT tenant, provider, municipality, product, measure,
           CASE WHEN grain = '' THEN '' ELSE 'm' END AS grain,
           CASE WHEN grain = '' THEN '' ELSE substr(pos, 1, 7) END AS pos,
           CASE WHEN ref <> '' AND (grain = '' OR substr(ref, 1, 7) > substr(pos, 1, 7))
                THEN substr(ref, 1, 7) ELSE '' END AS ref,
           CASE WHEN endd <> '' AND (grain = '' OR substr(endd, 1, 7) < substr(pos, 1, 7))
                THEN substr(endd, 1, 7) ELSE '' END AS endd,
           value, aux, substr(recorded_from, 1, 7) AS bucket, n
    FROM kpi_item WHERE measure <> 'end'
    UNION ALL
    SELECT tenant, provider, municipality, product, measure,
           CASE WHEN grain = '' THEN '' ELSE 'm' END,
           CASE WHEN grain = '' THEN '' ELSE substr(pos, 1, 7) END,
           CASE WHEN ref <> '' AND (grain = '' OR substr(ref, 1, 7) > substr(pos, 1, 7))
                THEN substr(ref, 1, 7) ELSE '' END,
           CASE WHEN endd <> '' AND (grain = '' OR substr(endd, 1, 7) < substr(pos, 1, 7))
                THEN substr(endd, 1, 7) ELSE '' END,
           value, aux, substr(recorded_to, 1, 7), -n
    FROM kpi_item WHERE measure <> 'end' AND recorded_to IS NOT NULL
) AS moves
GROUP BY tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, bucket
HAVING SUM(n) <> 0;
