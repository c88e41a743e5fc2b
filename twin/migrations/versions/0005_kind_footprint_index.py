"""Objects of one kind by location: a (kind, footprint) GiST index for nearest-k of rare kinds.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE INDEX twin_objects_kind_footprint_gist ON twin_objects USING gist (kind, footprint)")


def downgrade() -> None:
    op.execute("DROP INDEX twin_objects_kind_footprint_gist")
