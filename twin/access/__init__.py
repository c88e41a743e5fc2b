"""Who may do what: roles, API keys and the route table (pure), the key store in PostGIS, and their enforcement in
front of the HTTP app and the websocket (docs/access.md)."""
