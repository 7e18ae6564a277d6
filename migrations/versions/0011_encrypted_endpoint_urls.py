"""Endpoint URLs encrypted at rest: a Slack, Discord or Teams webhook URL is a credential.

`endpoint.url` (clear text) becomes `url_encrypted`, a Fernet token made with the app's key
(webapp.services.crypto: the first key of TOCSIN_ENCRYPTION_KEY, else the key derived from
SECRET_KEY, exactly as secrets and header values), and `url_host`, the host name alone in clear
(lower-case, no port or path) for lookups and the list page. Every existing row is encrypted here,
then the clear column is dropped. Downgrade decrypts every row back into `url`, and fails, naming
TOCSIN_ENCRYPTION_KEY, if a row was encrypted with a key that is no longer configured.

So the upgrade needs the app's key: run it as always with `flask --app wsgi db upgrade` (an app
context, see migrations/env.py), with the same SECRET_KEY / TOCSIN_ENCRYPTION_KEY as the server.
Offline mode (`--sql`) cannot encrypt and refuses. On SQLite the second step rebuilds the table
(batch mode, foreign keys off during migrations); the triggers of 0006 are on other tables.

Revision ID: 0011
Revises: 0010
"""
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

endpoint = sa.table("endpoint", sa.column("id", sa.Integer), sa.column("url", sa.String),
                    sa.column("url_encrypted", sa.Text), sa.column("url_host", sa.String))


def _host(url: str) -> str:
    try:
        return (urlsplit((url or "").strip()).hostname or "")[:255]
    except ValueError:
        return ""


def _refuse_offline() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0011 encrypts endpoint URLs with the app's key: run it online (flask db upgrade)")


def upgrade():
    from webapp.services import crypto

    _refuse_offline()
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("url_host", sa.String(length=255), nullable=True))
    connection = op.get_bind()
    for row_id, url in connection.execute(sa.select(endpoint.c.id, endpoint.c.url)).all():
        connection.execute(endpoint.update().where(endpoint.c.id == row_id)
                           .values(url_encrypted=crypto.encrypt(url or ""), url_host=_host(url)))
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.alter_column("url_encrypted", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("url_host", existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column("url")


def downgrade():
    from webapp.services import crypto

    _refuse_offline()
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.String(length=2048), nullable=True))
    connection = op.get_bind()
    for row_id, token in connection.execute(sa.select(endpoint.c.id, endpoint.c.url_encrypted)).all():
        connection.execute(endpoint.update().where(endpoint.c.id == row_id)
                           .values(url=crypto.decrypt(token, remember=False)))
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.alter_column("url", existing_type=sa.String(length=2048), nullable=False)
        batch_op.drop_column("url_host")
        batch_op.drop_column("url_encrypted")
