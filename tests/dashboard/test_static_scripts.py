"""Every script under static/ parses: one syntax error (a merge once left a section unclosed)
stops every script on every page, which the browser tests only show as timeouts."""
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.mark.parametrize("script", sorted(STATIC.glob("*.js")), ids=lambda path: path.name)
def test_the_script_parses(script):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (make test installs the npm packages with it)")
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
