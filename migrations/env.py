"""Alembic environment: run migrations on the gateway's own engine.

``sms-gateway init-db`` (and ``serve``/``sms`` on start) pass an open connection
in ``config.attributes["connection"]``. Plain ``alembic`` commands from the
project root load the gateway settings instead (``--config``/env as usual).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sms_gateway.models import Base

# Any fixed number: the PostgreSQL advisory lock that serialises migrations when
# several gunicorn workers start at once.
MIGRATION_LOCK_ID = 727_200_001


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via copy
        compare_type=True,
        # The gateway's SQLite connections run every transaction as BEGIN IMMEDIATE,
        # so DDL is transactional on both databases: a failed migration leaves nothing.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from sms_gateway.config import load_settings
    from sms_gateway.db import create_db_engine

    engine = create_db_engine(load_settings().database.url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()
