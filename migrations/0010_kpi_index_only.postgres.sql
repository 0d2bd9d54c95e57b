-- PostgreSQL only (a file named *.postgres.sql is skipped on SQLite, which has no INCLUDE).
-- The KPI queries read their rows from the indexes alone (index-only scans): at 100,000
-- cases a tenant's kpi_cell rows for a year are some 60,000 and its R-31 ends some 14,000,
-- each looked up against the client's other referrals, and visiting the table's pages for
-- them was most of a KPI query (docs/performance.md, "KPI queries at large scale").

-- the current cells and the cells' changes per recorded month and day: the count in the key's index
ALTER TABLE kpi_cell DROP CONSTRAINT kpi_cell_pkey,
    ADD PRIMARY KEY (tenant, product, provider, municipality, measure, grain, pos, ref, endd, value, aux) INCLUDE (n);
-- (the buckets keyed by provider and municipality before the recorded month or day: a query
-- reads one provider's or the roll-up's buckets, migrations/0012, not every provider's)
ALTER TABLE kpi_cell_bucket DROP CONSTRAINT kpi_cell_bucket_pkey,
    ADD PRIMARY KEY (tenant, product, provider, municipality, span, bucket, measure, grain, pos, ref, endd, value, aux) INCLUDE (n);

-- a client's other referrals (R-31 transfers and returns): what the join compares, in the index
DROP INDEX IF EXISTS kpi_item_client;
CREATE INDEX IF NOT EXISTS kpi_item_client_refs ON kpi_item (tenant, client_ref, recorded_from) INCLUDE (case_id, ref, recorded_to) WHERE measure = 'case' AND product = '';

-- the ends of a period (R-31), counted from the index alone
DROP INDEX IF EXISTS kpi_item_end;
CREATE INDEX IF NOT EXISTS kpi_item_ends ON kpi_item (tenant, product, pos) INCLUDE (case_id, provider, municipality, client_ref, grain, ref, endd, value, aux, n, recorded_from, recorded_to) WHERE measure = 'end';
