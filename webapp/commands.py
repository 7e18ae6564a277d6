"""`flask --app wsgi tocsin …`: provisioning, the development server and the scheduler worker."""
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.extensions import db
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
@click.option("--name", required=True, help="What the key is for.")
def create_api_key(email: str, name: str):
    """Print a new API key for the workspace of EMAIL (only its hash is stored)."""
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"No user with email {accounts.normalise_email(email)}.")
    if not name.strip() or len(name.strip()) > 100:
        raise click.ClickException("--name must be 1 to 100 characters.")
    _, full_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name=name)
    db.session.commit()
    click.echo(full_key)


@tocsin_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int):
    """Serve the dashboard (threaded development server) with the scheduler when enabled."""
    from werkzeug.serving import run_simple

    from webapp.scheduler import start_scheduler

    app = current_app._get_current_object()
    if app.config["TOCSIN_SCHEDULER"]:
        start_scheduler(app)
    click.echo(f"Tocsin is serving at http://{host}:{port}/ (scheduler {'on' if app.config['TOCSIN_SCHEDULER'] else 'off'})")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@tocsin_cli.command("worker")
def worker():
    """Run only the scheduler (retries, deadline sweeps, pruning) until stopped."""
    from webapp.scheduler import run_worker_forever

    run_worker_forever(current_app._get_current_object())
