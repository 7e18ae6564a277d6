"""docs/deployment.md and deploy/ cannot drift apart, and the real tools accept what they show:
`systemd-analyze verify` on the units, `nginx -t` on the site, and nginx really serving Tocsin
with it (TLS, the redirect, HSTS, the body limit, invite tokens redacted in its access log).
`make test` installs nginx and systemd when missing (scripts/ensure-deploy-tools.sh)."""
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import urllib3

from tests.support.gunicorn import free_port, gunicorn
from webapp.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUIDE = (ROOT / "docs" / "deployment.md").read_text()
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SITE = DEPLOY / "nginx" / "tocsin.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)")


def test_every_file_in_deploy_is_shown_verbatim_in_the_guide():
    files = sorted(path for path in DEPLOY.rglob("*") if path.is_file())
    assert len(files) >= 5
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        shown = re.search(rf"<!-- file: {re.escape(relative)} -->\n```[a-z]*\n(.*?)```\n", GUIDE, re.S)
        assert shown, f"{relative} is not shown in docs/deployment.md"
        assert shown.group(1) == path.read_text(), f"docs/deployment.md shows another {relative}"
    for named in re.findall(r"<!-- file: (\S+) -->", GUIDE):
        assert (ROOT / named).is_file(), f"docs/deployment.md shows {named}, which deploy/ does not have"


def test_the_guide_lists_every_environment_variable_tocsin_reads():
    config = (ROOT / "webapp" / "config.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    names = set(re.findall(r'"((?:TOCSIN|GUNICORN|PROMETHEUS)_[A-Z_]+|SECRET_KEY|DATABASE_URL|PORT)"', config))
    table = GUIDE.split("## Every environment variable, for production", 1)[1]
    listed = set(re.findall(r"^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?", table, re.M))
    listed = {name for pair in listed for name in pair if name}
    assert names - {"GUNICORN_PID"} <= listed, sorted(names - listed)


def test_the_units_run_the_commands_the_readme_uses():
    web, worker = (DEPLOY / "systemd" / "tocsin-web.service").read_text(), \
        (DEPLOY / "systemd" / "tocsin-worker.service").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "ExecStart=/opt/tocsin/.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app" in web
    assert "gunicorn -c gunicorn.conf.py wsgi:app" in readme and "flask --app wsgi tocsin worker" in readme
    assert "ExecStart=/opt/tocsin/.venv/bin/flask --app wsgi tocsin worker" in worker
    assert "Environment=TOCSIN_SCHEDULER=off" in web
    example = (DEPLOY / "tocsin.env.example").read_text()
    for name in ("TOCSIN_ENV=production", "SECRET_KEY=", "TOCSIN_ENCRYPTION_KEY=", "DATABASE_URL=", "TOCSIN_BASE_URL=https://",
                 "TOCSIN_PROXY_HOPS=1"):
        assert name in example


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """In a copy whose paths point at this checkout (verify checks that ExecStart exists), nothing else changed."""
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/tocsin", str(ROOT))
                        .replace("/etc/tocsin/tocsin.env", str(DEPLOY / "tocsin.env.example")))
        copies.append(str(copy))
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", *copies], capture_output=True, text=True,
                              timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr  # not even a warning (an unknown key is one)


class Nginx:
    """The site under Debian's nginx in a temporary prefix: its certificate a self-signed one, its
    logs and ports there; every directive of the site file kept."""

    def __init__(self, work: Path, upstream_port: int | None = None):
        self.work, self.http_port, self.https_port = work, free_port(), free_port()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=tocsin.example.com", "-keyout", str(work / "privkey.pem"),
                        "-out", str(work / "fullchain.pem")], check=True, capture_output=True, timeout=60)
        (work / "logs").mkdir()
        site = (SITE.read_text().replace("/etc/letsencrypt/live/tocsin.example.com/", f"{work}/")
                .replace("/var/log/nginx/", f"{work}/logs/"))
        if upstream_port is not None:  # served for real: loopback ports instead of 80 and 443
            site = (site.replace("listen [::]:80;\n", "").replace("listen [::]:443 ssl http2;\n", "")
                    .replace("listen 80;", f"listen 127.0.0.1:{self.http_port};")
                    .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;")
                    .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"))
        (work / "site.conf").write_text(site)
        temp = " ".join(f"{kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (work / "nginx.conf").write_text(
            f"pid {work}/nginx.pid;\nerror_log {work}/logs/error.log;\ndaemon off;\nmaster_process off;\n"
            f"events {{}}\nhttp {{\n    {temp}\n    access_log {work}/logs/access.log;\n    include {work}/site.conf;\n}}\n")
        self.command = [NGINX, "-c", str(work / "nginx.conf"), "-p", str(work)]


@needs_nginx
def test_nginx_accepts_the_site(tmp_path):
    tested = subprocess.run(Nginx(tmp_path).command + ["-t"], capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stderr
    assert "test is successful" in tested.stderr


@needs_nginx
def test_nginx_with_the_site_serves_tocsin_over_tls(tmp_path):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with gunicorn(tmp_path, workers=1, threads=2, TOCSIN_PROXY_HOPS="1",
                  TOCSIN_BASE_URL="https://tocsin.example.com") as base_url:
        (tmp_path / "nginx").mkdir()
        nginx = Nginx(tmp_path / "nginx", upstream_port=int(base_url.rsplit(":", 1)[1]))
        process = subprocess.Popen(nginx.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            https = f"https://127.0.0.1:{nginx.https_port}"
            for _ in range(100):
                try:
                    health = requests.get(https + "/healthz", verify=False, timeout=5)
                    break
                except requests.ConnectionError:
                    assert process.poll() is None, process.stderr.read().decode()
                    time.sleep(0.1)
            assert health.status_code == 200 and health.json()["database"] == "ok"
            assert health.headers["Strict-Transport-Security"].startswith("max-age=")

            plain = requests.get(f"http://127.0.0.1:{nginx.http_port}/login", allow_redirects=False, timeout=5,
                                 headers={"Host": "tocsin.example.com"})
            assert plain.status_code == 301 and plain.headers["Location"] == "https://tocsin.example.com/login"

            assert requests.get(https + "/invites/very-secret-invite-token", verify=False, timeout=5).status_code == 404
            too_big = requests.post(https + "/api/v1/runs", data=b"x" * (1024 * 1024 + 1), verify=False, timeout=10)
            assert too_big.status_code == 413

            # A client cannot claim another address: nginx sends its own, the one Tocsin records.
            signup = requests.Session()
            form = signup.get(https + "/signup", verify=False, timeout=5).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
            created = signup.post(https + "/signup", verify=False, timeout=10, allow_redirects=False,
                                  # No Referer, as from the invite page (no-referrer): the form still works on https.
                                  headers={"X-Forwarded-For": "203.0.113.9"},
                                  data={"csrf_token": token, "email": "owner@example.com",
                                        "password": "a long enough password", "confirm": "a long enough password"})
            assert created.status_code == 302, created.text[:300]
            assert "Secure" in created.headers["Set-Cookie"]
        finally:
            process.terminate()
            process.wait(10)
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'tocsin.db'}")
        with engine.connect() as connection:
            addresses = set(connection.scalars(sa.select(AuditEvent.client_ip).where(AuditEvent.client_ip.is_not(None))))
        engine.dispose()
        assert addresses == {"127.0.0.1"}
    access_log = (tmp_path / "nginx" / "logs" / "tocsin.access.log").read_text()
    assert "/invites/[redacted]" in access_log and "very-secret-invite-token" not in access_log
