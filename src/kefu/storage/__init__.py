"""Where conversations, tickets and feedback live: one relational database, SQLite by
default (a file under KEFU_HOME) or PostgreSQL for several workers (store.database_url),
through SQLAlchemy Core, its schema kept by Alembic migrations."""
