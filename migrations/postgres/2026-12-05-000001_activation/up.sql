-- licet: online-safe (adds tables, and columns with defaults that older versions never read)
-- Activation: licence keys, seat assignments, revocations, changes awaiting a second admin,
-- and what an activated device carries.

-- Whether manual changes to this tenant's entitlements wait for a second admin's approval.
ALTER TABLE tenants ADD COLUMN require_approval BOOLEAN NOT NULL DEFAULT FALSE;

-- The key a device was activated with, what the device reported about itself, and when it
-- last fetched a licence file.
ALTER TABLE devices ADD COLUMN license_key_id TEXT;
ALTER TABLE devices ADD COLUMN metadata TEXT;
ALTER TABLE devices ADD COLUMN last_checkin_at TIMESTAMP;

-- Licence keys are stored as the SHA-256 of their normalised form; only the last group is
-- kept in clear (`hint`) so that support can tell keys apart.
CREATE TABLE license_keys (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    key_hash       TEXT NOT NULL UNIQUE,
    hint           TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'active',
    created_at     TIMESTAMP NOT NULL,
    revoked_at     TIMESTAMP,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, entitlement_id) REFERENCES entitlements (tenant_id, id)
);

-- Named users holding a seat of an entitlement.
CREATE TABLE seat_assignments (
    tenant_id      TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    assigned_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, entitlement_id, user_id),
    FOREIGN KEY (tenant_id, entitlement_id) REFERENCES entitlements (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

-- What the signed revocation list publishes: licence files issued for a key, or for a device
-- bound to a fingerprint, at or before `revoked_at` no longer count.
CREATE TABLE revocations (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    fingerprint TEXT,
    revoked_at  TIMESTAMP NOT NULL,
    reason      TEXT NOT NULL
);

CREATE INDEX revocations_by_tenant ON revocations (tenant_id, id);

-- Manual changes waiting for a second admin, and how each was decided.
CREATE TABLE pending_changes (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    kind          TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    payload       TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  TIMESTAMP NOT NULL,
    reason        TEXT,
    ticket        TEXT,
    status        TEXT NOT NULL DEFAULT 'pending',
    decided_by    TEXT,
    decided_at    TIMESTAMP,
    decision_note TEXT
);

CREATE INDEX pending_changes_by_tenant ON pending_changes (tenant_id, status, requested_at);
