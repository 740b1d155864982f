"""Alembic's entry point: kefu runs the migrations itself (storage.database.upgrade), on
the connection it hands over in config.attributes."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
