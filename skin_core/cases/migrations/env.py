"""Alembic environment: runs on the connection CaseStore hands over, or on ``sqlalchemy.url`` when Alembic's
own command line is used (``alembic -x url=... `` is not needed: set SKIN_CASES_DATABASE)."""

from alembic import context
from sqlalchemy import create_engine

from skin_core.cases.schema import Base
from skin_core.cases.store import database_url

config = context.config


def run(connection) -> None:
    # batch mode: SQLite cannot ALTER most things in place; Alembic copies the table instead
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(database_url(config.get_main_option("sqlalchemy.url")))
    with engine.begin() as connection:
        run(connection)
