-- licet: online-safe (creates the first tables; there is no older version to run beside it)
-- Core licensing data: tenants, identities, catalogue, entitlements and devices.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE users (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT,
    status       TEXT NOT NULL DEFAULT 'active',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    role_id   TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (tenant_id, user_id, role_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE products (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE product_releases (
    product_id  TEXT NOT NULL REFERENCES products (id),
    version     TEXT NOT NULL,
    released_on TEXT,
    PRIMARY KEY (product_id, version)
);

CREATE TABLE features (
    id         TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    name       TEXT NOT NULL
);

CREATE TABLE entitlements (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    product_id    TEXT NOT NULL REFERENCES products (id),
    model         TEXT NOT NULL,
    seats         BIGINT NOT NULL,
    environments  TEXT NOT NULL,
    starts_at     TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    grace_seconds BIGINT NOT NULL,
    min_version   TEXT,
    max_version   TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX entitlements_by_product ON entitlements (tenant_id, product_id);

CREATE TABLE entitlement_features (
    tenant_id      TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    feature_id     TEXT NOT NULL REFERENCES features (id),
    PRIMARY KEY (tenant_id, entitlement_id, feature_id),
    FOREIGN KEY (tenant_id, entitlement_id) REFERENCES entitlements (tenant_id, id)
);

CREATE TABLE devices (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    name           TEXT NOT NULL,
    entitlement_id TEXT,
    status         TEXT NOT NULL DEFAULT 'active',
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, fingerprint),
    FOREIGN KEY (tenant_id, entitlement_id) REFERENCES entitlements (tenant_id, id)
);

CREATE TABLE device_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id   TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    at          TIMESTAMP NOT NULL,
    event       TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    detail      TEXT,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);

CREATE INDEX device_events_by_device ON device_events (tenant_id, device_id, id);
