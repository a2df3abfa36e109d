"""Results store: SQLite by default, any SQLAlchemy URL (PostgreSQL for a shared lab)."""

from .db import Store, default_url

__all__ = ["Store", "default_url"]
