"""Alembic environment: see platform_common.sql.run_alembic_env."""

from dispute_svc.store import Base
from platform_common.sql import run_alembic_env

run_alembic_env(Base.metadata, "dispute_svc")
