"""Alembic migrations (packaged so an installed ``edgeperf migrate`` finds them)."""
