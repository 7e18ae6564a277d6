"""`flask --app wsgi tocsin check`: one line per check, exit 1 when any found a problem, so a
deploy script or a cron job can stop on it (webapp/services/health_check.py does the looking)."""
import sys

import click
from flask import current_app

from webapp.commands import tocsin_cli
from webapp.services import health_check


@tocsin_cli.command("check")
def check():
    """Check the schema, the scheduler, the encryption keys and SECRET_KEY; exit 1 on any problem."""
    findings = health_check.run_checks(current_app._get_current_object())
    for finding in findings:
        click.echo(f"{'PROBLEM' if finding.problem else 'ok'}: {finding.sentence}")
    problems = sum(finding.problem for finding in findings)
    if problems:
        click.echo(f"{problems} problem(s) found.")
        sys.exit(1)
    click.echo("All checks passed.")
