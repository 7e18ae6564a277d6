"""`flask --app wsgi tocsin …`: provisioning, serving the dashboard and the scheduler worker."""
import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.models.accounts import API_KEY_SCOPES
from webapp.services import accounts

tocsin_cli = AppGroup("tocsin", help="Tocsin administration.")


@tocsin_cli.command("create-user")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user(email: str, password_stdin: bool):
    """Create a user with their own workspace (audited as user.create)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(email, password, from_shell=True)
    except accounts.AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Created {user.email} with workspace {user.workspace_id}.")


@tocsin_cli.command("create-api-key")
@click.argument("email")
@click.option("--name", help="What the key is for (default: “<scope> key from the shell”).")
@click.option("--scope", type=click.Choice(API_KEY_SCOPES), default="full", show_default=True,
              help="ingest: report, finish and read runs only (a cron host); full: the whole API. "
                   "The default stays full, as before scopes existed.")
def create_api_key(email: str, name: str | None, scope: str):
    """Print a new API key for the workspace of EMAIL (only its hash is stored)."""
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"No user with email {accounts.normalise_email(email)}.")
    name = f"{scope} key from the shell" if name is None else name
    if not name.strip() or len(name.strip()) > 100:
        raise click.ClickException("--name must be 1 to 100 characters.")
    _, full_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name=name, scope=scope)
    db.session.commit()
    click.echo(full_key)


REPO_ROOT = Path(__file__).resolve().parents[1]


@tocsin_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Requests served at once; more wait in the listen queue, none in the database pool.")
def serve(host: str, port: int, threads: int):
    """Serve the dashboard with gunicorn: one process, a bounded set of threads, and the
    scheduler in it when TOCSIN_SCHEDULER is on (what `make run` starts).

    Werkzeug's development server started a thread per connection: a burst of 200 run
    reports made 200 threads compete for the database pool's 15 connections. gunicorn's
    threaded worker serves `threads` requests at once and keeps the rest waiting in the
    kernel's listen queue, and the same gunicorn.conf.py as a production deployment sizes the
    pool from those threads and stops gracefully on Ctrl-C or SIGTERM."""
    command = [sys.executable, "-m", "gunicorn", "--config", str(REPO_ROOT / "gunicorn.conf.py"),
               "--chdir", str(REPO_ROOT), "--bind", f"{host}:{port}", "--workers", "1",
               "--threads", str(threads), "wsgi:app"]
    scheduler = "on" if current_app.config["TOCSIN_SCHEDULER"] else "off"
    click.echo(f"Tocsin is serving at http://{host}:{port}/ (scheduler {scheduler}, {threads} threads)")
    sys.stdout.flush()
    os.execv(sys.executable, command)


@tocsin_cli.command("worker")
def worker():
    """Run only the scheduler (retries, deadline sweeps, pruning) until stopped."""
    from webapp.scheduler import run_worker_forever

    run_worker_forever(current_app._get_current_object())


# Commands in modules of their own register on tocsin_cli when imported here.
from webapp import backup_commands, check_command, config_commands  # noqa: E402,F401
