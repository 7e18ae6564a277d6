"""CHECK constraints for enumerated columns, so the database itself refuses a value no code
means (a typo in a migration, a hand-written UPDATE, a future bug) on SQLite and PostgreSQL."""
import sqlalchemy as sa


def one_of(column: str, values) -> sa.CheckConstraint:
    """`column IN (…)`, named `ck_<table>_<column>` by the metadata's naming convention."""
    listed = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=column)
