"""Alembic environment: see platform_common.sql.run_alembic_env."""

from platform_common.sql import run_alembic_env
from refund_svc.store import Base

run_alembic_env(Base.metadata, "refund_svc")
