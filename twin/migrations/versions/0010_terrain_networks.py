"""Terrain grids and underground networks.

`terrain_grids` keeps an ingested DEM in its own CRS (geotransform, size, WKT) and `terrain_blocks` its heights
as zlib-compressed little-endian float32 blocks (NaN where the DEM had no data), so a height query reads only
the blocks around its points. `networks`, `network_nodes`, `network_pipes` and `network_services` keep a utility
network's graph (nodes snapped within a tolerance, pipes between them) and which objects each pipe serves. All
rows belong to their dataset and go with it.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE terrain_grids (
            dataset_id text PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
            crs_wkt text NOT NULL,
            geotransform float8[] NOT NULL CHECK (cardinality(geotransform) = 6),
            width integer NOT NULL CHECK (width > 1),
            height integer NOT NULL CHECK (height > 1),
            block_size integer NOT NULL CHECK (block_size > 0),
            zmin float8 NOT NULL,
            zmax float8 NOT NULL,
            coverage geometry(Polygon, 4326) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX terrain_grids_coverage ON terrain_grids USING gist (coverage);
        CREATE TABLE terrain_blocks (
            dataset_id text NOT NULL REFERENCES terrain_grids(dataset_id) ON DELETE CASCADE,
            block_row integer NOT NULL,
            block_col integer NOT NULL,
            rows integer NOT NULL,
            cols integer NOT NULL,
            heights bytea NOT NULL,
            PRIMARY KEY (dataset_id, block_row, block_col)
        );
        ALTER TABLE terrain_blocks ALTER COLUMN heights SET STORAGE EXTERNAL;
        CREATE TABLE networks (
            id text PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
            network_type text NOT NULL,
            snap_m float8 NOT NULL,
            summary jsonb NOT NULL DEFAULT '{}'
        );
        CREATE TABLE network_nodes (
            network_id text NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
            id text NOT NULL,
            kind text NOT NULL,
            object_id text,
            geom geometry(PointZ, 4326) NOT NULL,
            PRIMARY KEY (network_id, id)
        );
        CREATE TABLE network_pipes (
            network_id text NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
            id text NOT NULL,
            from_node text NOT NULL,
            to_node text NOT NULL,
            diameter_m float8 NOT NULL,
            depth_m float8 NOT NULL,
            length_m float8 NOT NULL,
            geom geometry(LineStringZ, 4326) NOT NULL,
            PRIMARY KEY (network_id, id)
        );
        CREATE INDEX network_pipes_geom ON network_pipes USING gist (geom);
        CREATE TABLE network_services (
            network_id text NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
            pipe_id text NOT NULL,
            object_id text NOT NULL,
            distance_m float8 NOT NULL,
            PRIMARY KEY (network_id, object_id)
        );
        CREATE INDEX network_services_pipe ON network_services (network_id, pipe_id);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE network_services, network_pipes, network_nodes, networks, terrain_blocks, terrain_grids")
