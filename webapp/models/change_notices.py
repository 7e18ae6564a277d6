"""PostgreSQL triggers that announce changes to the rows the API cache holds.

Each process on PostgreSQL caches live API keys, jobs and active rule filters
(`webapp/services/api_cache.py`). A trigger sends `NOTIFY tocsin_cached_rows` in the very
transaction that revokes a key or changes a job or rule, whatever code or SQL makes the change,
so every process hears of it once it commits. Inserts of keys and jobs need no notice: the cache
holds only rows it has found. Migration 0006 creates the same triggers for `flask db upgrade`;
`create_all` (the tests) gets them from here. SQLite has no cache and no triggers.
"""
import sqlalchemy as sa

from webapp.extensions import db

CHANNEL = "tocsin_cached_rows"

CREATE_STATEMENTS = (
    f"""CREATE OR REPLACE FUNCTION tocsin_notify_cached_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE TRIGGER api_key_cached_rows
    AFTER UPDATE OF workspace_id, key_hash, created_by_id, revoked_at OR DELETE OR TRUNCATE ON api_key
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
    # Not on expected_at / missing_after: a scheduled job's report moves them, and the cache
    # does not hold them.
    """CREATE OR REPLACE TRIGGER job_cached_rows
    AFTER UPDATE OF workspace_id, slug, name, default_deadline_seconds, schedule, grace_seconds, is_paused
    OR DELETE OR TRUNCATE ON job
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
    """CREATE OR REPLACE TRIGGER rule_cached_rows AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()""",
)


def _create_triggers(_metadata, connection, **_kwargs) -> None:
    if connection.dialect.name == "postgresql":
        for statement in CREATE_STATEMENTS:
            connection.execute(sa.text(statement))


sa.event.listen(db.metadata, "after_create", _create_triggers)
