"""The first-run checklist of a workspace (API key → run → endpoint → test alert → rule) and the
run-report snippets that the overview, the API-key page and the empty Jobs page show.

Each step is read from the rows the workspace has, so the checklist ticks itself off as they
appear and needs no state of its own."""
from typing import NamedTuple

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ApiKey, Delivery, Endpoint, Rule, Run

# config.py's TOCSIN_BASE_URL when the variable is not set: the snippets then use the address
# the browser reached Tocsin at, which is right more often than a default nobody chose.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
KEY_PLACEHOLDER = "$TOCSIN_API_KEY"
EXAMPLE_JOB = "nightly-backup"


class Step(NamedTuple):
    key: str
    title: str
    explanation: str
    done: bool


class Checklist(NamedTuple):
    steps: list[Step]

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def complete(self) -> bool:
        return self.done_count == len(self.steps)

    @property
    def next_step(self) -> Step | None:
        return next((step for step in self.steps if not step.done), None)


def _exists(statement) -> bool:
    return db.session.scalar(sa.select(statement.exists())) or False


def checklist(workspace_id: int) -> Checklist:
    """The five first-run steps, each done once the workspace has the row it leads to."""
    def has(model, *conditions):
        return _exists(sa.select(model.id).where(model.workspace_id == workspace_id, *conditions))

    return Checklist([
        Step("api_key", "Create an API key",
             "Your jobs authenticate with it when they report a run.", has(ApiKey)),
        Step("run", "Report a run",
             "Add one line to a cron job or script: the job appears on the Jobs page at its first report.",
             has(Run)),
        Step("endpoint", "Add an endpoint",
             "Where alerts go: a webhook URL, Slack, Discord, Teams, ntfy or PagerDuty.",
             has(Endpoint, Endpoint.deleted_at.is_(None))),
        Step("test_alert", "Send a test alert",
             "Check that your receiver gets alerts (and verifies their signature) before a real failure.",
             has(Delivery, Delivery.is_test.is_(True))),
        Step("rule", "Create a rule",
             "Say which runs raise an alert (a failure, a timeout, a slow run…) and where it is sent.",
             has(Rule)),
    ])


def first_endpoint(workspace_id: int) -> Endpoint | None:
    """The endpoint the checklist offers to send a test alert to: the oldest live one."""
    return db.session.scalar(sa.select(Endpoint).where(Endpoint.workspace_id == workspace_id,
                                                       Endpoint.deleted_at.is_(None)).order_by(Endpoint.id).limit(1))


def snippet_base_url(configured: str | None, request_host_url: str) -> str:
    """TOCSIN_BASE_URL when it was set, else the address this request reached Tocsin at."""
    configured = (configured or "").rstrip("/")
    if configured and configured != DEFAULT_BASE_URL:
        return configured
    return request_host_url.rstrip("/")


class Snippet(NamedTuple):
    key: str
    title: str
    language: str
    text: str


def run_snippets(base_url: str, api_key: str | None = None) -> list[Snippet]:
    """Ready-to-paste ways to report a run; `api_key` None uses the $TOCSIN_API_KEY variable."""
    runs_url = f"{base_url.rstrip('/')}/api/v1/runs"
    key = api_key or KEY_PLACEHOLDER
    headers = f'-H "Authorization: Bearer {key}" -H "Content-Type: application/json"'
    one_shot = (f'curl -fsS -X POST "{runs_url}" \\\n  {headers} \\\n'
                f'  -d \'{{"job": "{EXAMPLE_JOB}", "status": "succeeded", "duration_ms": 42000, '
                f'"message": "backup done"}}\'')
    start_finish = (
        f"# Start: Tocsin alerts if the run has not finished within deadline_seconds.\n"
        f'RUN_ID=$(curl -fsS -X POST "{runs_url}" \\\n  {headers} \\\n'
        f'  -d \'{{"job": "{EXAMPLE_JOB}", "deadline_seconds": 3600}}\' '
        f"| sed -n 's/.*\"id\": *\\([0-9][0-9]*\\).*/\\1/p')\n"
        f"# ... the job's work runs here ...\n"
        f'curl -fsS -X POST "{runs_url}/$RUN_ID/finish" \\\n  {headers} \\\n'
        f'  -d \'{{"status": "succeeded", "message": "backup done"}}\'')
    crontab = (
        f"0 2 * * * /usr/local/bin/backup.sh; code=$?; curl -fsS -m 10 -X POST \"{runs_url}\" {headers} "
        f"-d \"{{\\\"job\\\": \\\"{EXAMPLE_JOB}\\\", \\\"status\\\": \\\"$([ $code -eq 0 ] && echo succeeded "
        f"|| echo failed)\\\", \\\"message\\\": \\\"exit code $code\\\"}}\"")
    return [
        Snippet("curl-once", "curl: report a finished run", "shell", one_shot),
        Snippet("curl-start-finish", "curl: start a run, then finish it", "shell", start_finish),
        Snippet("crontab", "crontab line: run a script and report how it ended", "crontab", crontab),
        Snippet("python", "Python (standard library only)", "python", _python(runs_url, api_key)),
    ]


def _python(runs_url: str, api_key: str | None) -> str:
    key_line = (f'API_KEY = "{api_key}"' if api_key
                else 'API_KEY = os.environ["TOCSIN_API_KEY"]  # a key from Settings → API keys')
    imports = "import json\nimport urllib.request" if api_key else "import json\nimport os\nimport urllib.request"
    return f'''{imports}

RUNS_URL = "{runs_url}"
{key_line}


def tocsin(path, body):
    request = urllib.request.Request(RUNS_URL + path, data=json.dumps(body).encode(), method="POST", headers={{
        "Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"}})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


run = tocsin("", {{"job": "{EXAMPLE_JOB}", "deadline_seconds": 3600}})
try:
    pass  # the job's work runs here
except Exception as error:
    tocsin(f"/{{run['id']}}/finish", {{"status": "failed", "message": str(error)[:2000]}})
    raise
tocsin(f"/{{run['id']}}/finish", {{"status": "succeeded"}})
'''
