-- Roll-up rows of kpi_cell and kpi_cell_bucket (projections.kpi_cells.cells): each cell also
-- summed over every provider ('*'), every municipality ('*'), and both, so a KPI query
-- without those filters reads a few thousand rows instead of every provider x municipality
-- combination (73,651 -> 5,112 for a tenant's year at 100,000 cases). The runner keeps them
-- with the cells from now on; these statements add them to the rows already there (the
-- same text as projections.kpi_cells.rollups).

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, '*', municipality, product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, municipality, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, provider, '*', product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, provider, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, '*', '*', product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

INSERT INTO kpi_cell_bucket (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, n) SELECT tenant, '*', municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, SUM(n) FROM kpi_cell_bucket WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket HAVING SUM(n) <> 0;

INSERT INTO kpi_cell_bucket (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, n) SELECT tenant, provider, '*', product, measure, grain, pos, ref, endd, value, aux, span, bucket, SUM(n) FROM kpi_cell_bucket WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, provider, product, measure, grain, pos, ref, endd, value, aux, span, bucket HAVING SUM(n) <> 0;

INSERT INTO kpi_cell_bucket (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, span, bucket, n) SELECT tenant, '*', '*', product, measure, grain, pos, ref, endd, value, aux, span, bucket, SUM(n) FROM kpi_cell_bucket WHERE provider <> '*' AND municipality <> '*' GROUP BY tenant, product, measure, grain, pos, ref, endd, value, aux, span, bucket HAVING SUM(n) <> 0;
