"""Fixtures for the operator's side: a CLI runner for `flask tocsin …` commands."""
import pytest


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
