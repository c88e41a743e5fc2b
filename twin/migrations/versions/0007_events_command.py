"""Events and command: the events' lifecycle (assignee, deadline, merge, append-only history), known actors, and
road networks for pgRouting.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE EXTENSION IF NOT EXISTS pgrouting;

        ALTER TABLE events
            ADD COLUMN assignee text,
            ADD COLUMN deadline timestamptz,
            ADD COLUMN merged_into bigint REFERENCES events (id) ON DELETE SET NULL,
            ADD COLUMN reporter text,
            ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN updated_at timestamptz;
        UPDATE events SET updated_at = reported_at WHERE updated_at IS NULL;
        CREATE INDEX events_kind_time ON events (kind, reported_at);
        CREATE INDEX events_source ON events (source);
        CREATE INDEX events_object ON events (object_id);
        CREATE INDEX events_deadline_open ON events (deadline) WHERE closed_at IS NULL;
        CREATE INDEX events_open_counts ON events (status, kind, severity) INCLUDE (deadline, source)
            WHERE closed_at IS NULL;
        CREATE INDEX events_closed ON events (closed_at) INCLUDE (reported_at, status, source)
            WHERE closed_at IS NOT NULL;

        CREATE TABLE event_actors (
            id text PRIMARY KEY,
            name text,
            kind text NOT NULL DEFAULT 'person',
            attributes jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO event_actors (id, name, kind) VALUES ('system', 'CityTwin', 'system');

        CREATE TABLE event_history (
            seq bigserial PRIMARY KEY,
            event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
            at timestamptz NOT NULL,
            actor text NOT NULL,
            action text NOT NULL,
            from_status text,
            to_status text,
            assignee text,
            note text
        );
        CREATE INDEX event_history_event ON event_history (event_id, seq);
        CREATE INDEX event_history_at ON event_history (at);

        CREATE FUNCTION event_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN  -- cascaded from deleting its event
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'event_history is append-only';
        END $$;
        CREATE TRIGGER event_history_append_only BEFORE UPDATE OR DELETE ON event_history
            FOR EACH ROW EXECUTE FUNCTION event_history_append_only();

        CREATE TABLE road_networks (
            name text PRIMARY KEY,
            source text NOT NULL,
            summary jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE road_nodes (
            id bigserial PRIMARY KEY,
            network text NOT NULL REFERENCES road_networks (name) ON DELETE CASCADE,
            geom geometry(Point, 4326) NOT NULL
        );
        CREATE INDEX road_nodes_geom ON road_nodes USING gist (geom);
        CREATE INDEX road_nodes_network ON road_nodes (network);
        CREATE TABLE roads (
            id bigserial PRIMARY KEY,
            network text NOT NULL REFERENCES road_networks (name) ON DELETE CASCADE,
            source bigint NOT NULL,
            target bigint NOT NULL,
            class text,
            name text,
            speed_kmh double precision NOT NULL,
            oneway smallint NOT NULL DEFAULT 0,
            length_m double precision NOT NULL,
            cost double precision NOT NULL,
            reverse_cost double precision NOT NULL,
            source_id text,
            geom geometry(LineString, 4326) NOT NULL
        );
        CREATE INDEX roads_geom ON roads USING gist (geom);
        CREATE INDEX roads_network ON roads (network);
        CREATE INDEX roads_source ON roads (source);
        CREATE INDEX roads_target ON roads (target);
    """)


def downgrade() -> None:
    op.execute("""
        DROP TABLE roads, road_nodes, road_networks, event_history, event_actors;
        DROP FUNCTION event_history_append_only();
        DROP INDEX events_kind_time, events_source, events_object, events_deadline_open, events_closed,
            events_open_counts;
        ALTER TABLE events DROP COLUMN assignee, DROP COLUMN deadline, DROP COLUMN merged_into,
            DROP COLUMN reporter, DROP COLUMN attachments, DROP COLUMN updated_at;
    """)
