//! The portable table definitions, shared by both backends.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        require_approval -> Bool,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        description -> Text,
    }
}

diesel::table! {
    users (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    memberships (tenant_id, user_id, role_id) {
        tenant_id -> Text,
        user_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    products (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    product_releases (product_id, version) {
        product_id -> Text,
        version -> Text,
        released_on -> Nullable<Text>,
    }
}

diesel::table! {
    features (id) {
        id -> Text,
        product_id -> Text,
        name -> Text,
    }
}

diesel::table! {
    entitlements (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        product_id -> Text,
        model -> Text,
        seats -> BigInt,
        environments -> Text,
        starts_at -> Timestamp,
        expires_at -> Timestamp,
        grace_seconds -> BigInt,
        min_version -> Nullable<Text>,
        max_version -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    entitlement_features (tenant_id, entitlement_id, feature_id) {
        tenant_id -> Text,
        entitlement_id -> Text,
        feature_id -> Text,
    }
}

diesel::table! {
    devices (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        fingerprint -> Text,
        name -> Text,
        entitlement_id -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        license_key_id -> Nullable<Text>,
        metadata -> Nullable<Text>,
        last_checkin_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    device_events (id) {
        id -> BigInt,
        tenant_id -> Text,
        device_id -> Text,
        at -> Timestamp,
        event -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    policy_versions (version) {
        version -> Text,
        files -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    policy_activations (id) {
        id -> BigInt,
        version -> Text,
        activated_at -> Timestamp,
        activated_by -> Text,
        source -> Text,
        git_commit -> Nullable<Text>,
    }
}

diesel::table! {
    decision_log (seq) {
        seq -> BigInt,
        request_id -> Text,
        decided_at -> Timestamp,
        tenant_id -> Text,
        principal_type -> Text,
        principal_id -> Text,
        action -> Text,
        feature_id -> Text,
        context -> Text,
        decision -> Text,
        reasons -> Text,
        advice -> Text,
        entitlement_id -> Nullable<Text>,
        policy_version -> Text,
        latency_us -> BigInt,
        inputs -> Text,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        id -> Text,
        occurred_at -> Timestamp,
        actor -> Text,
        tenant_id -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        reason -> Nullable<Text>,
        ticket -> Nullable<Text>,
        request_id -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    licet_locks (name) {
        name -> Text,
    }
}

diesel::table! {
    licet_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    license_keys (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        entitlement_id -> Text,
        key_hash -> Text,
        hint -> Text,
        status -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    seat_assignments (tenant_id, entitlement_id, user_id) {
        tenant_id -> Text,
        entitlement_id -> Text,
        user_id -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    revocations (id) {
        id -> BigInt,
        tenant_id -> Text,
        kind -> Text,
        subject -> Text,
        fingerprint -> Nullable<Text>,
        revoked_at -> Timestamp,
        reason -> Text,
    }
}

diesel::table! {
    pending_changes (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        object_id -> Text,
        payload -> Text,
        requested_by -> Text,
        requested_at -> Timestamp,
        reason -> Nullable<Text>,
        ticket -> Nullable<Text>,
        status -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_note -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    roles,
    users,
    memberships,
    products,
    product_releases,
    features,
    entitlements,
    entitlement_features,
    devices,
    device_events,
    policy_versions,
    policy_activations,
    decision_log,
    audit_events,
    licet_locks,
    licet_meta,
    license_keys,
    seat_assignments,
    revocations,
    pending_changes,
);
