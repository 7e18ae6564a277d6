"""`flask --app wsgi tocsin export` and `tocsin import`: a workspace's jobs, endpoints and rules
as a file to keep in version control (webapp/services/config_as_code, docs/config.md)."""
import os
import sys
from pathlib import Path

import click

from webapp.commands import tocsin_cli
from webapp.extensions import db
from webapp.services import accounts, config_as_code
from webapp.services.config_as_code.document import UnreadableDocument


def _user(email: str):
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"No user with email {accounts.normalise_email(email)}.")
    return user


@tocsin_cli.command("export")
@click.option("--user", "email", required=True, help="Export the workspace of this user.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: stdout).")
@click.option("--format", "output_format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def export_config(email: str, output: Path | None, output_format: str):
    """Write the workspace's jobs, endpoints and rules (secrets as references, never their values)."""
    text = config_as_code.dump(config_as_code.export_document(_user(email).workspace_id), output_format)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {output}.", err=True)


@tocsin_cli.command("import")
@click.option("--user", "email", required=True, help="Import into the workspace of this user.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change and change nothing.")
@click.option("--prune", is_flag=True, help="Also delete the jobs, endpoints and rules the file does not name.")
def import_config(email: str, file: Path, dry_run: bool, prune: bool):
    """Apply FILE to the workspace: create or update by name (jobs by slug), all or nothing."""
    user = _user(email)
    try:
        document = config_as_code.load(file.read_text())
        plan = config_as_code.apply_document(user.workspace_id, document, environ=dict(os.environ),
                                             dry_run=dry_run, prune=prune, user_id=user.id)
    except UnreadableDocument as error:
        click.echo(f"{file}: {error}", err=True)
        sys.exit(1)
    except config_as_code.InvalidDocument as error:
        click.echo(f"{file} was not applied: {len(error.errors)} error(s), nothing changed.", err=True)
        for line in error.errors:
            click.echo(f"  {line}", err=True)
        sys.exit(1)
    finally:
        db.session.remove()
    for line in plan.lines():
        click.echo(line)
    counts = ", ".join(f"{count} {action}" for action, count in plan.counts().items())
    click.echo(f"Dry run: nothing changed ({counts})." if dry_run else f"Applied ({counts}).")
