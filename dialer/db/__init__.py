"""Database access: engine, sessions, models and migrations."""

from dialer.db.engine import make_engine, session_factory
from dialer.db.models import Base

__all__ = ["Base", "make_engine", "session_factory"]
