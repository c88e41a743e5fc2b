"""OGC SensorThings API 1.1 over the live twin: the model mapping, query options, filters (pure) and their SQL."""
