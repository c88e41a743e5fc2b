"""Fast JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


def render_json(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)
