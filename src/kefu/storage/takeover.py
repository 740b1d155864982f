"""What the first migration of each chain does with tables an older kefu made by hand:
take them over as they are, creating the missing tables and adding the missing columns."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def take_over(metadata: sa.MetaData) -> set[tuple[str, str]]:
    """Bring the database's tables up to metadata's; the (table, column) pairs it added to
    tables that existed."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    added = set()
    for table in metadata.sorted_tables:
        if table.name not in existing:
            table.create(bind)
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                op.add_column(table.name, column._copy())
                added.add((table.name, column.name))
    return added


def drop_all(metadata: sa.MetaData) -> None:
    for table in reversed(metadata.sorted_tables):
        op.drop_table(table.name)
