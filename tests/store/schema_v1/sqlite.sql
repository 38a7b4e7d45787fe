-- schedkit SQL store schema version 1 (sqlite), table prefix schedkit_. FROZEN:
-- tests/store/test_sql_migrations.py upgrades a database created from this file and
-- checks that it equals a fresh one. Never edit it: a new version adds a migration.
CREATE TABLE schedkit_api_tokens (
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    token_hash VARCHAR NOT NULL,
    created_at BIGINT NOT NULL,
    created_by VARCHAR,
    last_used_at BIGINT,
    revoked BOOLEAN NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT schedkit_api_tokens_hash_uq UNIQUE (token_hash)
);
CREATE TABLE schedkit_audit_events (
    id VARCHAR NOT NULL,
    at BIGINT NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    "before" JSON,
    "after" JSON,
    detail TEXT,
    PRIMARY KEY (id)
);
CREATE INDEX schedkit_audit_action_at_ix ON schedkit_audit_events (action, at, id);
CREATE INDEX schedkit_audit_actor_at_ix ON schedkit_audit_events (actor, at, id);
CREATE INDEX schedkit_audit_at_ix ON schedkit_audit_events (at, id);
CREATE INDEX schedkit_audit_target_at_ix ON schedkit_audit_events (target, at, id);
CREATE TABLE schedkit_kv_state (
    "key" VARCHAR NOT NULL,
    value JSON NOT NULL,
    version INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY ("key")
);
CREATE TABLE schedkit_leases (
    name VARCHAR NOT NULL,
    holder VARCHAR NOT NULL,
    term INTEGER NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (name)
);
CREATE TABLE schedkit_nodes (
    id VARCHAR NOT NULL,
    hostname VARCHAR NOT NULL,
    pid INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    roles JSON NOT NULL,
    version VARCHAR NOT NULL,
    info JSON NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE schedkit_run_logs (
    run_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    level VARCHAR NOT NULL,
    logger VARCHAR NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
)
 WITHOUT ROWID;
CREATE TABLE schedkit_runs (
    id VARCHAR NOT NULL,
    task_name VARCHAR NOT NULL,
    schedule_id VARCHAR,
    trigger_source VARCHAR(16) NOT NULL,
    scheduled_for BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    priority INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    kwargs JSON NOT NULL,
    not_before BIGINT NOT NULL,
    blocked_by VARCHAR,
    node_id VARCHAR,
    started_at BIGINT,
    finished_at BIGINT,
    heartbeat_at BIGINT,
    duration FLOAT,
    result JSON,
    error JSON,
    attempt_errors JSON NOT NULL,
    progress JSON,
    reason VARCHAR,
    cancel_requested BOOLEAN NOT NULL,
    timeout FLOAT,
    created_at BIGINT NOT NULL,
    created_by VARCHAR,
    PRIMARY KEY (id),
    CONSTRAINT schedkit_runs_fence_uq UNIQUE (schedule_id, scheduled_for)
);
CREATE INDEX schedkit_runs_blocked_by_ix ON schedkit_runs (blocked_by);
CREATE INDEX schedkit_runs_claim_ix ON schedkit_runs (status, priority DESC, not_before, id);
CREATE INDEX schedkit_runs_finished_ix ON schedkit_runs (finished_at);
CREATE INDEX schedkit_runs_node_scheduled_ix ON schedkit_runs (node_id, scheduled_for, id);
CREATE INDEX schedkit_runs_status_scheduled_ix ON schedkit_runs (status, scheduled_for, id);
CREATE INDEX schedkit_runs_reaper_ix ON schedkit_runs (status, heartbeat_at);
CREATE INDEX schedkit_runs_schedule_status_ix ON schedkit_runs (schedule_id, status);
CREATE INDEX schedkit_runs_scheduled_ix ON schedkit_runs (scheduled_for, id);
CREATE INDEX schedkit_runs_task_scheduled_ix ON schedkit_runs (task_name, scheduled_for, id);
CREATE TABLE schedkit_schedules (
    id VARCHAR NOT NULL,
    task_name VARCHAR NOT NULL,
    "trigger" JSON NOT NULL,
    kwargs JSON NOT NULL,
    paused BOOLEAN NOT NULL,
    pause_note VARCHAR,
    misfire_grace_time FLOAT,
    coalesce BOOLEAN NOT NULL,
    max_instances INTEGER NOT NULL,
    overlap VARCHAR(16) NOT NULL,
    timeout FLOAT,
    origin VARCHAR NOT NULL,
    next_fire_time BIGINT,
    last_fire_time BIGINT,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX schedkit_schedules_due_ix ON schedkit_schedules (paused, next_fire_time, id);
CREATE INDEX schedkit_schedules_task_ix ON schedkit_schedules (task_name);
CREATE TABLE schedkit_schema_version (
    version INTEGER NOT NULL,
    compatible_from INTEGER NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (version)
);
INSERT INTO schedkit_schema_version (version, compatible_from, applied_at) VALUES (1, 1, 0);
