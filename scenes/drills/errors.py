"""The one error a drill's inputs raise: a plan, scheme or site that cannot be simulated, said precisely."""

from __future__ import annotations


class PlanError(ValueError):
    """A plan (or the site it names) that cannot run; `where` is the JSON path of the offending part."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where
