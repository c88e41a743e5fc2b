"""Tile store: content in PostGIS or in files (PostGIS keeps the index), tileset layout for re-tiling.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tilesets", sa.Column("layout", JSONB, nullable=False, server_default="{}"))
    op.add_column("tilesets", sa.Column("store", sa.Text, nullable=False, server_default="postgis"))
    op.alter_column("tiles", "content", nullable=True)
    op.add_column("tiles", sa.Column("storage_key", sa.Text))
    op.add_column("tiles", sa.Column("size_bytes", sa.Integer, nullable=False, server_default="0"))
    op.add_column("tiles", sa.Column("enu_box", ARRAY(sa.Float)))
    op.create_check_constraint("tiles_content_somewhere", "tiles", "content IS NOT NULL OR storage_key IS NOT NULL")


def downgrade() -> None:
    op.drop_constraint("tiles_content_somewhere", "tiles")
    op.drop_column("tiles", "enu_box")
    op.drop_column("tiles", "size_bytes")
    op.drop_column("tiles", "storage_key")
    op.execute("DELETE FROM tiles WHERE content IS NULL")
    op.alter_column("tiles", "content", nullable=False)
    op.drop_column("tilesets", "store")
    op.drop_column("tilesets", "layout")
