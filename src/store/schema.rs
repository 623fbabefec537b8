//! Portable table definitions shared by SQLite and PostgreSQL: uuids and JSON are TEXT,
//! timestamps naive UTC truncated to microseconds — diesel's `MultiConnection` has no Uuid,
//! Json or Timestamptz column types, and SQLite keeps nanoseconds where PostgreSQL does not.

diesel::table! {
    service_accounts (id) {
        id -> Text,
        name -> Text,
        scope -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Text>,
        detail -> Text,
        outcome -> Text,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    scim_users (id) {
        id -> Text,
        user_name -> Text,
        user_name_lower -> Nullable<Text>,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        title -> Nullable<Text>,
        active -> Bool,
        attributes -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    scim_user_emails (user_id, position) {
        user_id -> Text,
        position -> Integer,
        value -> Text,
        value_lower -> Text,
        email_type -> Nullable<Text>,
        is_primary -> Bool,
    }
}

diesel::table! {
    scim_groups (id) {
        id -> Text,
        display_name -> Text,
        display_name_lower -> Text,
        external_id -> Nullable<Text>,
        attributes -> Text,
        member_count -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    sync_jobs (user_id) {
        user_id -> Text,
        generation -> BigInt,
        enqueued_at -> Timestamp,
        run_after -> Timestamp,
        attempts -> Integer,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    sync_users (user_id) {
        user_id -> Text,
        zenqms_id -> Nullable<Text>,
        zenqms_id_json -> Nullable<Text>,
        state -> Text,
        reason -> Nullable<Text>,
        attempts -> Integer,
        last_attempt_at -> Nullable<Timestamp>,
        next_attempt_at -> Nullable<Timestamp>,
        applied -> Nullable<Text>,
        synced_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    zenqms_roles (id_json) {
        id_json -> Text,
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        present -> Bool,
        first_seen_at -> Timestamp,
        refreshed_at -> Timestamp,
        missing_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    role_mappings (id) {
        id -> Text,
        group_id -> Nullable<Text>,
        group_display_name -> Text,
        group_display_name_lower -> Text,
        role_id -> Text,
        role_id_json -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        bound_at -> Nullable<Timestamp>,
        unbound_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    zenqms_user_roles (user_id, role_id_json) {
        user_id -> Text,
        role_id_json -> Text,
    }
}

diesel::table! {
    initial_sync_runs (id) {
        id -> Text,
        mode -> Text,
        dry_run -> Bool,
        source -> Text,
        state -> Text,
        active_slot -> Nullable<Text>,
        requested_by -> Text,
        cancel_requested -> Bool,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    initial_sync_items (run_id, seq) {
        run_id -> Text,
        seq -> BigInt,
        user_id -> Nullable<Text>,
        okta_id -> Nullable<Text>,
        email -> Nullable<Text>,
        outcome -> Text,
        zenqms_id -> Nullable<Text>,
        zenqms_id_json -> Nullable<Text>,
        reason -> Nullable<Text>,
        status -> Text,
    }
}

diesel::table! {
    sync_holds (user_id) {
        user_id -> Text,
        run_id -> Text,
        held_at -> Timestamp,
    }
}

diesel::joinable!(scim_user_emails -> scim_users (user_id));
diesel::joinable!(group_members -> scim_groups (group_id));
diesel::table! {
    okta_connection (id) {
        id -> Integer,
        org_url -> Text,
        client_id -> Text,
        client_secret_sealed -> Text,
        scope_group_ids -> Text,
        state -> Text,
        problem -> Nullable<Text>,
        refresh_token_sealed -> Nullable<Text>,
        access_token_sealed -> Nullable<Text>,
        access_token_expires_at -> Nullable<Timestamp>,
        scopes -> Nullable<Text>,
        authorized_by -> Nullable<Text>,
        authorized_at -> Nullable<Timestamp>,
        token_generation -> BigInt,
        refresh_lease_owner -> Nullable<Text>,
        refresh_lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    okta_authorizations (state_hash) {
        state_hash -> Text,
        principal -> Text,
        nonce -> Text,
        verifier_sealed -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    zenqms_creates_sent (user_id) {
        user_id -> Text,
        sent_at -> Timestamp,
    }
}

diesel::joinable!(group_members -> scim_users (user_id));
diesel::joinable!(sync_users -> scim_users (user_id));
diesel::joinable!(role_mappings -> scim_groups (group_id));
diesel::joinable!(role_mappings -> zenqms_roles (role_id_json));
diesel::joinable!(zenqms_user_roles -> scim_users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    service_accounts,
    audit_log,
    settings,
    scim_users,
    scim_user_emails,
    scim_groups,
    group_members,
    sync_jobs,
    sync_users,
    zenqms_roles,
    role_mappings,
    zenqms_user_roles,
    okta_connection,
    okta_authorizations,
    initial_sync_runs,
    initial_sync_items,
    sync_holds,
    zenqms_creates_sent,
);

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        principal -> Text,
        scope -> Text,
        via -> Text,
        csrf -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    console_signins (state_hash) {
        state_hash -> Text,
        nonce -> Text,
        verifier_sealed -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    okta_resync (id) {
        id -> Integer,
        runs -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        run_trigger -> Nullable<Text>,
        requested_at -> Nullable<Timestamp>,
        requested_why -> Nullable<Text>,
        last_started_at -> Nullable<Timestamp>,
        last_finished_at -> Nullable<Timestamp>,
        users_mark -> Nullable<Timestamp>,
        groups_mark -> Nullable<Timestamp>,
        last_outcome -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_counts -> Nullable<Text>,
        presence_checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    okta_event_hook (id) {
        id -> Integer,
        okta_hook_id -> Text,
        uri -> Text,
        status -> Text,
        verification_status -> Text,
        secret_sha256 -> Text,
        events -> Text,
        problem -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    okta_hook_deliveries (id) {
        id -> Text,
        okta_event_id -> Nullable<Text>,
        received_at -> Timestamp,
        body -> Text,
        event_count -> Integer,
        processed_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    okta_hook_events (uuid) {
        uuid -> Text,
        published -> Timestamp,
        event_type -> Text,
        target_user_id -> Nullable<Text>,
        target_group_id -> Nullable<Text>,
        delivery_id -> Text,
        state -> Text,
        attempts -> Integer,
        error -> Nullable<Text>,
        due_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        received_at -> Timestamp,
        done_at -> Nullable<Timestamp>,
    }
}
