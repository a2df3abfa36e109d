"""Results store: SQLite by default, any SQLAlchemy URL (PostgreSQL for a shared lab).

Tables are created and upgraded by alembic migrations (``migrations/``) when a Store opens.
"""

from .db import FINISHED, Store, default_url, migrate

__all__ = ["FINISHED", "Store", "default_url", "migrate"]
