"""Emergency drills: plans (their validated documents), runs (status, seed, speed, report) and the frames a run
stores in chunks, so that replay reads them back and never recomputes.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE drill_plans (
            id text PRIMARY KEY,
            name text NOT NULL,
            hazard text NOT NULL,
            document jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE drill_runs (
            id uuid PRIMARY KEY,
            plan_id text NOT NULL REFERENCES drill_plans (id) ON DELETE CASCADE,
            scheme text NOT NULL,
            seed bigint NOT NULL,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'finished', 'stopped', 'failed')),
            speed double precision NOT NULL DEFAULT 1 CHECK (speed > 0),
            plan_document jsonb NOT NULL,
            frame_interval double precision NOT NULL,
            frame_count integer NOT NULL DEFAULT 0,
            simulated_s double precision NOT NULL DEFAULT 0,
            worker_pid integer,
            heartbeat_at timestamptz,
            error text,
            report jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            ended_at timestamptz
        );
        CREATE INDEX drill_runs_plan ON drill_runs (plan_id, created_at);

        CREATE TABLE drill_frames (
            run_id uuid NOT NULL REFERENCES drill_runs (id) ON DELETE CASCADE,
            chunk integer NOT NULL,
            t_start double precision NOT NULL,
            t_end double precision NOT NULL,
            frame_count integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (run_id, chunk)
        );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE drill_frames; DROP TABLE drill_runs; DROP TABLE drill_plans;")
