-- case_doc: the case document of GET /v1/cases/{id} (projections/case_doc.py), one row per
-- case at its latest version, with the tenant and provider that scope who may read it.
-- GET /v1/cases/{id} without version / as_of / on answers from this row; its version also
-- tells the entitlement and consumption reads which case version the rows they read hold.
CREATE TABLE IF NOT EXISTS case_doc (
    case_id   TEXT PRIMARY KEY,
    tenant    TEXT NOT NULL,
    provider  TEXT NOT NULL,
    version   INTEGER NOT NULL,
    doc       TEXT NOT NULL
);
