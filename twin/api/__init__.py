"""HTTP API: `create_app(settings)` builds everything; nothing is created at import."""

from twin.api.app import create_app

__all__ = ["create_app"]
