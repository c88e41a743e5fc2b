"""API keys: one row per key, the secret kept only as a scrypt hash (and, for device keys, the hash mosquitto's
password file takes), revoked keys kept with the time of revocation.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE api_keys (
            id text PRIMARY KEY,
            role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'device')),
            name text NOT NULL DEFAULT '',
            sensors text[] NOT NULL DEFAULT '{}',
            secret_hash text NOT NULL,
            mqtt_hash text,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
