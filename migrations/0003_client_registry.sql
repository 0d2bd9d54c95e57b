-- Client registry: identifying data (BSN, name, birth date) apart from the event log,
-- encrypted per client with the client's own key (AES-256-GCM). Erasure deletes the key
-- (crypto-shredding, R-33) and the ciphertext; events and projections hold only the
-- pseudonymous client_ref and stay intact.
CREATE TABLE IF NOT EXISTS client_key (
    tenant      TEXT NOT NULL,
    client_ref  TEXT NOT NULL,
    key_b64     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, client_ref)
);

CREATE TABLE IF NOT EXISTS client_record (
    tenant          TEXT NOT NULL,
    client_ref      TEXT NOT NULL,
    nonce_b64       TEXT NOT NULL,
    ciphertext_b64  TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant, client_ref)
);

CREATE TABLE IF NOT EXISTS client_erasure (
    tenant      TEXT NOT NULL,
    client_ref  TEXT NOT NULL,
    erased_at   TEXT NOT NULL,
    erased_by   TEXT NOT NULL,
    PRIMARY KEY (tenant, client_ref)
);
