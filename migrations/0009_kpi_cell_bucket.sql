-- KPIs as of a past instant for whole months (projections/kpi_cells.py): the changes to the
-- kpi_cell cells summed per recorded month (span 'm', bucket YYYY-MM) and per recorded day
-- (span 'd', bucket YYYY-MM-DD), UTC. Every kpi_item row (but the ends, read from kpi_item
-- as for kpi_cell) adds n to its cell in the month and the day of its recorded_from and,
-- once closed, takes n off in the month and the day of its recorded_to; the runner keeps
-- these sums in the transaction that writes the rows. The cells as of an instant T are the
-- months before T's month, the days of T's month before T's day, and the kpi_item rows
-- opened and closed on T's day up to T.
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
    span          TEXT NOT NULL,   -- 'm': bucket is a recorded month, 'd': a recorded day
    bucket        TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (tenant, product, span, bucket, provider, municipality, measure, grain, pos, ref, endd, value, aux)
);

-- the rows closed on T's day (those opened on it: kpi_item_then)
CREATE INDEX IF NOT EXISTS kpi_item_closed ON kpi_item (tenant, product, recorded_to) WHERE recorded_to IS NOT NULL;
-- the ends of a period as of T (R-31): the end rows only, not every row recorded before T
CREATE INDEX IF NOT EXISTS kpi_item_end ON kpi_item (tenant, product, pos) WHERE measure = 'end';

-- the rows already written: the same sums, from kpi_item (the cell of a row as
-- kpi_cells.cell: month resolution, a referral or end month kept only on the other side)
INSERT INTO kpi_cell_bucket (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, n)
WITH cells AS (
    SELECT tenant, provider, municipality, product, measure,
           CASE WHEN grain = '' THEN '' ELSE 'm' END AS grain,
           CASE WHEN grain = '' THEN '' ELSE substr(pos, 1, 7) END AS pos,
           CASE WHEN ref <> '' AND (grain = '' OR substr(ref, 1, 7) > substr(pos, 1, 7))
                THEN substr(ref, 1, 7) ELSE '' END AS ref,
           CASE WHEN endd <> '' AND (grain = '' OR substr(endd, 1, 7) < substr(pos, 1, 7))
                THEN substr(endd, 1, 7) ELSE '' END AS endd,
           value, aux, n, recorded_from, recorded_to
    FROM kpi_item WHERE measure <> 'end'
), moves AS (
    SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux,
           'm' AS span, substr(recorded_from, 1, 7) AS bucket, n FROM cells
    UNION ALL
    SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux,
           'd', substr(recorded_from, 1, 10), n FROM cells
    UNION ALL
    SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux,
           'm', substr(recorded_to, 1, 7), -n FROM cells WHERE recorded_to IS NOT NULL
    UNION ALL
    SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux,
           'd', substr(recorded_to, 1, 10), -n FROM cells WHERE recorded_to IS NOT NULL
)
SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, SUM(n)
FROM moves
GROUP BY tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket
HAVING SUM(n) <> 0;
