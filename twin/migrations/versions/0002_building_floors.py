"""Walkable floors of buildings: per storey the walkable area and spaces; doors, exits and stairs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "building_floors",
        sa.Column("storey_id", sa.Text, primary_key=True),
        sa.Column("dataset_id", sa.Text, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("building_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("elevation", sa.Float, nullable=False),
        sa.Column("height", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("walkable", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.Column("spaces", JSONB, nullable=False, server_default="[]"),
    )
    op.create_index("building_floors_building", "building_floors", ["building_id", "ordinal"])
    op.create_index("building_floors_walkable_gist", "building_floors", ["walkable"], postgresql_using="gist")
    op.create_table(
        "building_connections",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("dataset_id", sa.Text, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("building_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("storey_id", sa.Text, nullable=False),
        sa.Column("to_storey_id", sa.Text),
        sa.Column("from_space", sa.Text),
        sa.Column("to_space", sa.Text),
        sa.Column("width", sa.Float),
        sa.Column("geometry", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("building_connections_building", "building_connections", ["building_id", "kind"])


def downgrade() -> None:
    op.drop_table("building_connections")
    op.drop_table("building_floors")
