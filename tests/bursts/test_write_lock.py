"""SQLite's write lock and the connection pool: nobody queues for the lock holding a pooled
connection, so the holder never waits for one (the root of the 30 s burst time-outs)."""
import threading

import pytest
import sqlalchemy as sa

from webapp.database import WriteBeforeLock, pool_sizes, serialised_writes
from webapp.extensions import db
from webapp.models import Workspace


@pytest.fixture
def app_config():
    # One connection and no overflow: any thread that queues for the lock while holding it
    # starves the lock's holder (who waits at most pool_timeout, 3 s, then fails).
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 3}}


def _in_thread(app, work, errors):
    def run():
        with app.app_context():
            try:
                work()
            except Exception as error:  # reported to the test thread
                errors.append(error)
            finally:
                db.session.remove()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reader_queuing_for_the_write_lock_hands_its_connection_to_the_lock_holder(app):
    holder_has_lock, reader_holds_connection = threading.Event(), threading.Event()
    errors = []

    def holder():  # takes the lock first, then needs a connection for its write
        with serialised_writes():
            holder_has_lock.set()
            reader_holds_connection.wait(5)
            db.session.add(Workspace(name="written under the lock"))
            db.session.commit()

    def reader():  # reads (checking out the only connection), then wants to write
        holder_has_lock.wait(5)
        db.session.execute(sa.select(Workspace.id)).all()
        reader_holds_connection.set()
        with serialised_writes():
            db.session.add(Workspace(name="written after it"))
            db.session.commit()

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    threads = [_in_thread(app, holder, errors), _in_thread(app, reader, errors)]
    for thread in threads:
        thread.join(15)
    assert errors == []
    assert sorted(db.session.scalars(sa.select(Workspace.name))) == ["written after it", "written under the lock"]


def test_a_write_made_before_taking_the_lock_is_refused(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    db.session.add(Workspace(name="pending"))
    with pytest.raises(WriteBeforeLock):
        with serialised_writes():
            pass
    db.session.rollback()


def test_the_pool_holds_a_connection_for_every_thread_that_can_use_one():
    config = {"TOCSIN_WEB_THREADS": 8, "TOCSIN_SEND_WORKERS": 8, "TOCSIN_SEND_THREADS_MAX": 32,
              "TOCSIN_DB_POOL_SIZE": 0}
    size, overflow = pool_sizes(config, postgresql=True)
    assert (size, size + overflow) == (8 * 2 + 8 + 4, 8 * 2 + 32 + 4)  # two per request on PostgreSQL
    size, overflow = pool_sizes({**config, "TOCSIN_DB_POOL_SIZE": 10}, postgresql=False)
    assert (size, size + overflow) == (10, 8 + 32 + 4)  # a smaller pool kept open, the rest on demand


@pytest.mark.postgres_too
def test_postgresql_ends_a_transaction_of_ours_left_idle(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    assert db.session.scalar(sa.text("SHOW idle_in_transaction_session_timeout")) == "1min"
    db.session.rollback()
