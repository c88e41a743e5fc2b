"""The one error every query module raises for bad client input (mapped to HTTP 400)."""


class QueryError(ValueError):
    """A query parameter or filter the server cannot answer; the message says what to fix."""
