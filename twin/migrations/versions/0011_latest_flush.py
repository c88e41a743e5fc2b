"""The latest values off the readings' transaction.

`sensor_latest` is now upserted from the live state about once a second; `sensor_latest_flush` holds each
worker's mark (every reading it stored with `received_at` before `upto` is in `sensor_latest`), and a BRIN index
on `readings.received_at` lets a start correct `sensor_latest` from the readings received since the oldest mark.
`sensor_latest` leaves room on its pages so its updates stay HOT.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE sensor_latest_flush (
            worker text PRIMARY KEY,
            upto timestamptz NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX readings_received_brin ON readings USING brin (received_at);
        ALTER TABLE sensor_latest SET (fillfactor = 50);
    """)


def downgrade() -> None:
    op.execute("""
        ALTER TABLE sensor_latest RESET (fillfactor);
        DROP INDEX readings_received_brin;
        DROP TABLE sensor_latest_flush;
    """)
