"""Fast JSON responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send


def render_json(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)


class PartsResponse(Response):
    """A body given as parts, sent one after the other with the whole Content-Length (a body of megabytes is not
    joined into one more copy); `after` runs once the body is sent or sending failed (a pooled connection given
    back, so its reset does not hold up the answer)."""

    def __init__(self, parts: list[bytes], media_type: str, after: Callable[[], Awaitable[Any]] | None = None
                 ) -> None:
        self.parts = parts
        self.after = after
        super().__init__(headers={"content-length": str(sum(map(len, parts)))}, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            last = len(self.parts) - 1
            for index, part in enumerate(self.parts):
                await send({"type": "http.response.body", "body": part, "more_body": index < last})
        finally:
            if self.after is not None:
                await self.after()
