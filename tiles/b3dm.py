"""3D Tiles 1.0 Batched 3D Model (b3dm) content for older clients: a header, a feature table with the batch
length, a JSON batch table with the feature properties, and a GLB using `_BATCHID`."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import orjson

from tiles.model import Feature

B3DM_TYPE = "application/octet-stream"


def _padded(data: bytes, start: int, fill: bytes) -> bytes:
    """`data` padded so that what follows it starts on an 8-byte boundary of the file."""
    return data + fill * ((-(start + len(data))) % 8)


def build_b3dm(glb: bytes, features: Sequence[Feature]) -> bytes:
    """Wrap a `_BATCHID` GLB of `features` (batch id = index) as b3dm with their properties in the batch table."""
    keys = sorted({key for f in features for key in f.properties})
    batch = {"id": [f.id for f in features], **{k: [f.properties.get(k) for f in features] for k in keys}}
    header = 28
    feature_json = _padded(orjson.dumps({"BATCH_LENGTH": len(features)}), header, b" ")
    batch_json = _padded(orjson.dumps(batch), header + len(feature_json), b" ")
    body = feature_json + batch_json + glb
    glb_end = header + len(body)
    body += b"\0" * ((-glb_end) % 8)
    return struct.pack("<4sIIIIII", b"b3dm", 1, header + len(body), len(feature_json), 0, len(batch_json), 0) + body
