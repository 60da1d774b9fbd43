"""Alembic environment: migrations run on the connection handed over by store.migrate()."""

from alembic import context

from evidence_svc.store import Base

connection = context.config.attributes["connection"]
# Own version table: services may share one PostgreSQL database and must not share history.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table="evidence_svc_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
