"""Triggers that NOTIFY `tocsin_cached_rows` when an API key is revoked or a job or rule
changes (PostgreSQL only: see webapp/models/change_notices.py).

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CREATE_STATEMENTS = (
    """CREATE OR REPLACE FUNCTION tocsin_notify_cached_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tocsin_cached_rows', TG_TABLE_NAME);
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE TRIGGER api_key_cached_rows
    AFTER UPDATE OF workspace_id, key_hash, created_by_id, revoked_at OR DELETE OR TRUNCATE ON api_key
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
    """CREATE OR REPLACE TRIGGER job_cached_rows AFTER UPDATE OR DELETE OR TRUNCATE ON job
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
    """CREATE OR REPLACE TRIGGER rule_cached_rows AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in CREATE_STATEMENTS:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("rule", "job", "api_key"):
        op.execute(f"DROP TRIGGER {table}_cached_rows ON {table}")
    op.execute("DROP FUNCTION tocsin_notify_cached_rows()")
