"""CityTwin core: settings, database, HTTP API and command line."""

__version__ = "0.1.0"
