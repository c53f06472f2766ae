//! diesel table definitions, written by hand to match `migrations/`.

diesel::table! {
    domains (id) {
        id -> Text,
        name -> Text,
        enabled -> Bool,
        description -> Text,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        domain_id -> Text,
        description -> Text,
        enabled -> Bool,
        tags -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        name -> Text,
        domain_id -> Text,
        default_project_id -> Nullable<Text>,
        password_hash -> Text,
        enabled -> Bool,
        extra -> Text,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        name -> Text,
    }
}

diesel::table! {
    role_assignments (user_id, project_id, role_id) {
        user_id -> Text,
        project_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    system_role_assignments (user_id, role_id) {
        user_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    identity_groups (id) {
        id -> Text,
        name -> Text,
        domain_id -> Text,
        description -> Text,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    group_role_assignments (group_id, project_id, role_id) {
        group_id -> Text,
        project_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    system_group_role_assignments (group_id, role_id) {
        group_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    application_credentials (id) {
        id -> Text,
        name -> Text,
        user_id -> Text,
        project_id -> Text,
        description -> Nullable<Text>,
        secret_hash -> Text,
        expires_at -> Nullable<BigInt>,
        unrestricted -> Bool,
        roles -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    volume_services (host, binary) {
        host -> Text,
        binary -> Text,
        disabled -> Bool,
        disabled_reason -> Nullable<Text>,
        frozen -> Bool,
        updated_at -> BigInt,
    }
}

diesel::table! {
    token_revocations (audit_id) {
        audit_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    layers (id) {
        id -> BigInt,
        parent_id -> Nullable<BigInt>,
        depth -> Integer,
    }
}

diesel::table! {
    blocks (id) {
        id -> Binary,
        size -> Integer,
        inline_data -> Nullable<Binary>,
        created_at -> BigInt,
    }
}

diesel::table! {
    map_entries (layer_id, idx) {
        layer_id -> BigInt,
        idx -> BigInt,
        block_id -> Nullable<Binary>,
    }
}

diesel::table! {
    resources (id) {
        id -> Text,
        kind -> Text,
        size -> BigInt,
        block_size -> Integer,
        layer_id -> BigInt,
        policy -> Text,
        refs -> Integer,
        created_at -> BigInt,
    }
}

diesel::table! {
    swift_accounts (account) {
        account -> Text,
        metadata -> Text,
        created_at -> BigInt,
        container_count -> BigInt,
        object_count -> BigInt,
        bytes_used -> BigInt,
    }
}

diesel::table! {
    swift_containers (account, name) {
        account -> Text,
        name -> Text,
        metadata -> Text,
        read_acl -> Nullable<Text>,
        write_acl -> Nullable<Text>,
        created_at -> BigInt,
        put_timestamp -> BigInt,
        object_count -> BigInt,
        bytes_used -> BigInt,
    }
}

diesel::table! {
    swift_objects (account, container, name) {
        account -> Text,
        container -> Text,
        name -> Text,
        resource_id -> Text,
        size -> BigInt,
        etag -> Text,
        content_type -> Text,
        metadata -> Text,
        last_modified -> BigInt,
        delete_at -> Nullable<BigInt>,
        manifest -> Nullable<Text>,
        slo -> Bool,
    }
}

diesel::table! {
    images (id) {
        id -> Text,
        name -> Nullable<Text>,
        owner -> Nullable<Text>,
        status -> Text,
        visibility -> Text,
        protected -> Bool,
        os_hidden -> Bool,
        checksum -> Nullable<Text>,
        os_hash_algo -> Nullable<Text>,
        os_hash_value -> Nullable<Text>,
        size -> Nullable<BigInt>,
        virtual_size -> Nullable<BigInt>,
        container_format -> Nullable<Text>,
        disk_format -> Nullable<Text>,
        min_ram -> Integer,
        min_disk -> Integer,
        properties -> Text,
        tags -> Text,
        locations -> Text,
        resource_id -> Nullable<Text>,
        staging_resource_id -> Nullable<Text>,
        store -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    image_members (image_id, member) {
        image_id -> Text,
        member -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    nbd_exports (name) {
        name -> Text,
        resource_id -> Text,
        volume_id -> Text,
        attachment_id -> Text,
        client_ip -> Nullable<Text>,
        readonly -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    volumes (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        name -> Nullable<Text>,
        description -> Nullable<Text>,
        size -> BigInt,
        status -> Text,
        attach_status -> Text,
        availability_zone -> Text,
        volume_type -> Text,
        bootable -> Bool,
        readonly -> Bool,
        multiattach -> Bool,
        snapshot_id -> Nullable<Text>,
        source_volid -> Nullable<Text>,
        metadata -> Text,
        image_metadata -> Text,
        resource_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    volume_snapshots (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        volume_id -> Text,
        name -> Nullable<Text>,
        description -> Nullable<Text>,
        size -> BigInt,
        status -> Text,
        metadata -> Text,
        resource_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        progress -> Nullable<Text>,
    }
}

diesel::table! {
    volume_attachments (id) {
        id -> Text,
        volume_id -> Text,
        project_id -> Text,
        instance_uuid -> Nullable<Text>,
        attached_host -> Nullable<Text>,
        mountpoint -> Nullable<Text>,
        attach_status -> Text,
        attach_mode -> Text,
        connector -> Nullable<Text>,
        connection_info -> Nullable<Text>,
        attach_time -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(projects -> domains (domain_id));
diesel::joinable!(users -> domains (domain_id));
diesel::joinable!(role_assignments -> users (user_id));
diesel::joinable!(role_assignments -> projects (project_id));
diesel::joinable!(role_assignments -> roles (role_id));
diesel::joinable!(system_role_assignments -> users (user_id));
diesel::joinable!(system_role_assignments -> roles (role_id));
diesel::joinable!(application_credentials -> users (user_id));
diesel::joinable!(application_credentials -> projects (project_id));
diesel::joinable!(group_members -> identity_groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(group_role_assignments -> identity_groups (group_id));
diesel::joinable!(group_role_assignments -> projects (project_id));
diesel::joinable!(group_role_assignments -> roles (role_id));
diesel::joinable!(system_group_role_assignments -> identity_groups (group_id));
diesel::joinable!(system_group_role_assignments -> roles (role_id));
diesel::table! {
    volume_types (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        is_public -> Bool,
        extra_specs -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    volume_type_projects (type_id, project_id) {
        type_id -> Text,
        project_id -> Text,
    }
}

diesel::table! {
    volume_quota_limits (scope, resource) {
        scope -> Text,
        resource -> Text,
        hard_limit -> BigInt,
    }
}

diesel::joinable!(resources -> layers (layer_id));
diesel::joinable!(map_entries -> layers (layer_id));
diesel::joinable!(swift_objects -> resources (resource_id));
diesel::joinable!(image_members -> images (image_id));
diesel::joinable!(nbd_exports -> resources (resource_id));
diesel::joinable!(volume_snapshots -> volumes (volume_id));
diesel::joinable!(volume_attachments -> volumes (volume_id));
diesel::joinable!(volume_type_projects -> volume_types (type_id));

diesel::allow_tables_to_appear_in_same_query!(
    domains,
    projects,
    users,
    roles,
    role_assignments,
    system_role_assignments,
    identity_groups,
    group_members,
    group_role_assignments,
    system_group_role_assignments,
    application_credentials,
    token_revocations,
    settings,
    layers,
    blocks,
    map_entries,
    resources,
    swift_accounts,
    swift_containers,
    swift_objects,
    images,
    image_members,
    nbd_exports,
    volumes,
    volume_snapshots,
    volume_attachments,
    volume_types,
    volume_type_projects,
    volume_quota_limits,
    volume_services,
);
