"""Persistence: SQLAlchemy 2.x models, the engine, Alembic migrations and repositories."""
