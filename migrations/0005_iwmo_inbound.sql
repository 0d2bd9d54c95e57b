-- iWmo inbound (iwmo/inbound.py): the lookups the message path needs beside the event log.
-- The message ledger (Afzender + Identificatie -> first retour) is the idempotency table.

-- A client's BSN as a keyed digest (HMAC-SHA256 under the pseudonym key) -> client_ref.
-- Erasing the client (caselog/registry.py) deletes the row, so the link is gone with the key.
CREATE TABLE IF NOT EXISTS iwmo_client (
    tenant      TEXT NOT NULL,
    bsn_digest  TEXT NOT NULL,
    client_ref  TEXT NOT NULL,
    PRIMARY KEY (tenant, bsn_digest)
);
CREATE INDEX IF NOT EXISTS iwmo_client_by_ref ON iwmo_client (tenant, client_ref);

-- Which case a message names: kind 'assignment' (ToewijzingNummer), 'request'
-- (provider + ReferentieAanbieder of a 315/317), 'client' (client_ref + provider: the latest
-- case). Cases written through the JSON API are found through the projections as well.
CREATE TABLE IF NOT EXISTS iwmo_case_key (
    tenant   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, key)
);

-- A municipality's own WMO325: its retour codes per declared line, as received.
CREATE TABLE IF NOT EXISTS iwmo_declaration_outcome (
    tenant             TEXT NOT NULL,
    provider           TEXT NOT NULL,
    declaratie_nummer  TEXT NOT NULL,
    referentie_nummer  TEXT NOT NULL,
    retour_codes       TEXT NOT NULL,
    recorded_at        TEXT NOT NULL,
    PRIMARY KEY (tenant, provider, declaratie_nummer, referentie_nummer)
);

-- The message ledger (iwmo/ledger.py): Afzender + Identificatie -> the first answer, so a
-- resend is answered the same and applied once; other content under a used Identificatie
-- is refused with 9056.
CREATE TABLE IF NOT EXISTS iwmo_message (
    tenant         TEXT NOT NULL,
    afzender       TEXT NOT NULL,
    identificatie  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    digest         TEXT NOT NULL,
    answer         TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    PRIMARY KEY (tenant, afzender, identificatie)
);
