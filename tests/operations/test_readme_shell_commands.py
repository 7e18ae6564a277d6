"""The README's provisioning commands work as written in a second shell after `make run`: no
TOCSIN_ENV, no SECRET_KEY, the development key and database found in instance/. Run in a copy of
the project, so the checkout's own instance/ is never touched."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.support.accounts import PASSWORD

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def readme_provisioning_commands() -> list[str]:
    section = PROJECT_ROOT.joinpath("README.md").read_text().split("## Provisioning from the shell", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tocsin"
    copy.mkdir()
    for name in ("webapp", "migrations", "templates", "static"):
        shutil.copytree(PROJECT_ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("wsgi.py", "README.md"):
        shutil.copy(PROJECT_ROOT / name, copy / name)
    (copy / ".venv").symlink_to(VENV_BIN.parent)
    return copy


def shell(command: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    bare = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "PASSWORD": PASSWORD, **env}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=bare, capture_output=True, text=True, timeout=120)


def test_readme_provisioning_commands_work_verbatim_after_make_run(tmp_path):
    copy = project_copy(tmp_path)
    # What `make run` does before serving: development mode, the database upgraded.
    upgraded = shell(".venv/bin/flask --app wsgi db upgrade", copy, TOCSIN_ENV="development")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (copy / "instance" / "secret_key").is_file()

    _asks_for_the_password, create_user, create_key = readme_provisioning_commands()
    created = shell(create_user, copy)
    key = shell(create_key, copy)

    assert created.returncode == 0, created.stderr
    assert "SECRET_KEY is not set" not in created.stderr
    assert key.returncode == 0, key.stderr
    assert re.search(r"tk_[A-Za-z0-9_-]{20,}", key.stdout)
    engine = sa.create_engine(f"sqlite:///{copy / 'instance' / 'tocsin.db'}")
    with engine.connect() as connection:
        assert connection.scalar(sa.text("select email from user")) == "ops@example.com"
    engine.dispose()
