"""The live twin: sensors, readings partitioned by time, latest values, alarms with their history, events.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE sensors (
            id text PRIMARY KEY,
            kind text NOT NULL,
            name text,
            unit text NOT NULL,
            position geometry(PointZ, 4326),
            object_id text,
            attributes jsonb NOT NULL DEFAULT '{}',
            thresholds jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sensors_position_gist ON sensors USING gist (position);
        CREATE INDEX sensors_object ON sensors (object_id);
        CREATE INDEX sensors_kind ON sensors (kind);

        CREATE TABLE readings (
            sensor_id text NOT NULL,
            time timestamptz NOT NULL,
            value double precision NOT NULL,
            received_at timestamptz NOT NULL
        ) PARTITION BY RANGE (time);
        CREATE UNIQUE INDEX readings_sensor_time ON readings (sensor_id, time);

        CREATE TABLE sensor_latest (
            sensor_id text PRIMARY KEY,
            time timestamptz NOT NULL,
            value double precision NOT NULL,
            received_at timestamptz NOT NULL
        );

        CREATE TABLE kind_thresholds (
            kind text PRIMARY KEY,
            rule jsonb NOT NULL
        );

        CREATE TABLE alarms (
            id uuid PRIMARY KEY,
            sensor_id text NOT NULL,
            object_id text,
            kind text NOT NULL,
            level text NOT NULL,
            value double precision NOT NULL,
            raised_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            cleared_at timestamptz,
            acknowledged_by text,
            acknowledged_at timestamptz,
            event_id bigint
        );
        CREATE INDEX alarms_active ON alarms (sensor_id) WHERE cleared_at IS NULL;
        CREATE INDEX alarms_time ON alarms (raised_at, cleared_at);

        CREATE TABLE alarm_history (
            alarm_id uuid NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
            at timestamptz NOT NULL,
            action text NOT NULL,
            level text,
            value double precision,
            actor text,
            seq bigserial PRIMARY KEY
        );
        CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, at);
        CREATE INDEX alarm_history_at ON alarm_history (at);

        CREATE TABLE events (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            severity text NOT NULL,
            status text NOT NULL DEFAULT 'reported',
            source text NOT NULL,
            title text NOT NULL,
            description text,
            object_id text,
            location geometry(PointZ, 4326),
            alarm_id uuid,
            attributes jsonb NOT NULL DEFAULT '{}',
            reported_at timestamptz NOT NULL,
            closed_at timestamptz
        );
        CREATE INDEX events_location_gist ON events USING gist (location);
        CREATE INDEX events_open ON events (status) WHERE closed_at IS NULL;
        CREATE INDEX events_time ON events (reported_at, closed_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE events, alarm_history, alarms, kind_thresholds, sensor_latest, readings, sensors")
