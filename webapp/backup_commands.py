"""`flask --app wsgi tocsin backup DEST` and `tocsin restore SRC` (webapp/services/backups.py)."""
import sys
from pathlib import Path

import click
from flask import current_app

from webapp.commands import tocsin_cli
from webapp.services import backups


def _done(outcome: backups.Outcome) -> None:
    for line in outcome.lines:
        click.echo(line, err=line.startswith("WARNING"))


@tocsin_cli.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace DESTINATION if it exists.")
def backup(destination: Path, force: bool):
    """Copy the whole database to DESTINATION while Tocsin runs (SQLite backup API or pg_dump)."""
    try:
        _done(backups.backup(current_app._get_current_object(), destination, overwrite=force))
    except backups.BackupError as error:
        click.echo(f"Backup failed: {error}", err=True)
        sys.exit(1)


@tocsin_cli.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
def restore(source: Path):
    """Restore a backup made by `tocsin backup` into this (empty) database. Stop Tocsin first."""
    try:
        _done(backups.restore(current_app._get_current_object(), source))
    except backups.BackupError as error:
        click.echo(f"Restore refused: {error}", err=True)
        sys.exit(1)
