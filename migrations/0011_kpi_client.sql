-- The clients of a tenant with more than one case (a case row in kpi_item, any validity): the
-- only clients whose ends R-31 must compare with other referrals (a transfer or a return).
-- Most clients have one case, so the KPI query joins a few ends with the referrals and counts
-- the rest as they are. Kept by the runner in the transaction that writes the kpi_item rows
-- (projections.kpi_cells), summed afresh by a rebuild, and taken back on R-33 destruction.
CREATE TABLE IF NOT EXISTS kpi_client (
    tenant      TEXT NOT NULL,
    client_ref  TEXT NOT NULL,
    PRIMARY KEY (tenant, client_ref)
);

INSERT INTO kpi_client (tenant, client_ref)
SELECT tenant, client_ref FROM kpi_item WHERE measure = 'case' AND product = ''
GROUP BY tenant, client_ref HAVING COUNT(DISTINCT case_id) > 1;
