"""Foundation: datasets, twin objects, tilesets and tiles.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "datasets",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_crs", sa.Text),
        sa.Column("object_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("extent", Geometry("POLYGON", srid=4326, spatial_index=False)),
        sa.Column("summary", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "twin_objects",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("dataset_id", sa.Text, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("parent_id", sa.Text),
        sa.Column("footprint", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("zmin", sa.Float, nullable=False),
        sa.Column("zmax", sa.Float, nullable=False),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("twin_objects_footprint_gist", "twin_objects", ["footprint"], postgresql_using="gist")
    op.create_index("twin_objects_dataset", "twin_objects", ["dataset_id", "kind"])
    op.create_index("twin_objects_parent", "twin_objects", ["parent_id"])
    op.create_index("twin_objects_attributes", "twin_objects", ["attributes"], postgresql_using="gin",
                    postgresql_ops={"attributes": "jsonb_path_ops"})
    op.create_table(
        "tilesets",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("dataset_id", sa.Text, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("content_count", sa.Integer, nullable=False),
        sa.Column("total_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "tiles",
        sa.Column("tileset_id", sa.Text, sa.ForeignKey("tilesets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("level", sa.Integer),
        sa.Column("geometric_error", sa.Float),
        sa.Column("bounds", Geometry("POLYGON", srid=4326, spatial_index=False)),
        sa.Column("zmin", sa.Float),
        sa.Column("zmax", sa.Float),
        sa.Column("feature_ids", sa.ARRAY(sa.Text)),
    )
    op.create_index("tiles_bounds_gist", "tiles", ["bounds"], postgresql_using="gist")
    op.execute("ALTER TABLE tiles ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("tiles")
    op.drop_table("tilesets")
    op.drop_table("twin_objects")
    op.drop_table("datasets")
