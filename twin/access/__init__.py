"""Who may do what: roles, API keys and their policy (pure), the key store in PostGIS, and their enforcement on
HTTP, the websocket and MQTT (docs/architecture.md, "Access")."""
