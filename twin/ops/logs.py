"""Structured logs: one JSON object per line (`CITYTWIN_LOG_FORMAT=json`), else uvicorn's usual text.

Every record carries `time` (ISO 8601 UTC), `level`, `logger` and `message`; access records add `request_id`,
`method`, `path`, `route`, `status`, `duration_ms` and `client`; an exception adds `exception` (its traceback as
one string). The configuration is a `logging.config.dictConfig` dict, so uvicorn applies it in every worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "citytwin.access"
ACCESS_FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms", "client")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime",
                                                                                     "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: the standard fields, then whatever `extra` the caller gave."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(document, default=str).decode()


def json_logging_config(level: str = "INFO") -> dict[str, Any]:
    """Root, uvicorn and CityTwin loggers to stderr as JSON lines (uvicorn's own access log is replaced by
    `citytwin.access`, which knows the route template, the request id and the duration)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            ACCESS_LOGGER: {"handlers": [], "level": level, "propagate": True},
        },
    }


def configure(log_format: str, level: str = "INFO") -> None:
    """Switch this process to JSON lines (`json`); `text` leaves logging as it is."""
    if log_format == "json":
        import logging.config

        logging.config.dictConfig(json_logging_config(level))
