"""SQL adapters for the domain's ports: SQLite (embedded default) and PostgreSQL."""
