-- The ends in kpi_cell (projections.kpi_cells.cell): one row per reason and day, with the
-- roll-ups over providers and municipalities, so the R-31 outflow of whole months now is
-- counted from a few thousand cells instead of every end (some 50,000 for a tenant's year
-- at 100,000 cases); only the ends of clients with more than one case (kpi_client) are
-- read one by one, through kpi_item_client_ends. The runner keeps the end cells from now
-- on; these statements add them for the rows already there (the same text as
-- projections.kpi_cells.end_cells).

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM (SELECT tenant, provider, municipality, product, measure, CASE WHEN measure = 'end' THEN 'd' WHEN grain <> '' THEN 'm' ELSE '' END AS grain, CASE WHEN measure = 'end' THEN pos WHEN grain <> '' THEN substr(pos, 1, 7) ELSE '' END AS pos, CASE WHEN ref <> '' AND (grain = '' OR substr(ref, 1, 7) > substr(pos, 1, 7)) THEN substr(ref, 1, 7) ELSE '' END AS ref, CASE WHEN endd <> '' AND (grain = '' OR substr(endd, 1, 7) < substr(pos, 1, 7)) THEN substr(endd, 1, 7) ELSE '' END AS endd, value, CASE WHEN measure = 'end' THEN '' ELSE aux END AS aux, n FROM kpi_item WHERE recorded_to IS NULL AND measure = 'end') AS c GROUP BY tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux;

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, '*', municipality, product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' AND measure = 'end' GROUP BY tenant, municipality, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, provider, '*', product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' AND measure = 'end' GROUP BY tenant, provider, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

INSERT INTO kpi_cell (tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, aux, n) SELECT tenant, '*', '*', product, measure, grain, pos, ref, endd, value, aux, SUM(n) FROM kpi_cell WHERE provider <> '*' AND municipality <> '*' AND measure = 'end' GROUP BY tenant, product, measure, grain, pos, ref, endd, value, aux HAVING SUM(n) <> 0;

CREATE INDEX IF NOT EXISTS kpi_item_client_ends ON kpi_item (tenant, client_ref) WHERE measure = 'end' AND recorded_to IS NULL;
