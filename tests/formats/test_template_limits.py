"""Template memory bombs are refused before they allocate, at save, at preview and at send: no
method call, operator, literal or filter can build a string, list or number past the limits."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.factories import endpoint_id_via_api
from webapp.models import Endpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
BOMBS = [
    "{{ '1'.zfill(1000000000)|length }}",
    "{{ 'x'.ljust(1000000000) }}",
    "{{ 'x'.rjust(1000000000) }}",
    "{{ 'x'.center(1000000000) }}",
    "{{ ('\t' * 1000).expandtabs(1000000) }}",
    "{{ ('a' * 1000).replace('a', 'b' * 1000).replace('b', 'c' * 1000) }}",
    "{{ ('a' * 1000)|replace('a', 'b' * 1000) }}",
    "{% set a = 'x' * 5000 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c|length }}",
    "{% set a = 'x' * 5000 %}{% set b = a + a %}{% set c = b + b %}{{ c|length }}",
    "{% set a = ['x' * 9000] %}{% set b = [a, a] %}{{ b|length }}",
    "{% set a = range(9000)|list %}{{ ([a] * 9000)|length }}",
    "{% set a = range(9000)|list %}{{ (a + a)|length }}",
    "{{ (9 ** 99) ** 99 }}",
    "{% set a = 9 ** 99 %}{% set b = a * a %}{% set c = b * b %}{% set d = c * c %}{% set e = d * d %}"
    "{% set f = e * e %}{{ f * f }}",
    "{{ ','.join(['x' * 9000, 'y' * 9000]) }}",
    "{{ ['x' * 9000, 'y' * 9000]|join(',') }}",
    "{{ (1).to_bytes(1000000000, 'big') }}",
    "{{ lipsum(100000) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'x'|indent(1000000000) }}",
    "{{ range(100000)|batch(100000, fill_with='x' * 9000)|list }}",
]
FINE = [
    ("{{ alert.message|upper }} at {{ timestamp }}", "FAILED"),
    ("{{ [alert.severity, job.slug]|join(' / ') }}", " / "),
    ("{% for key, value in run.metadata.items() %}{{ key }}={{ value }};{% endfor %}", "="),
    ("{{ alert.message.replace('failed', 'broke')[:20] }}", "broke"),
    ("{{ '%-10s|' % alert.severity }}{{ '{:>8}'.format(job.slug[:8]) }}", "|"),
    ("{{ {'text': alert.message ~ ' (' ~ alert.severity ~ ')'}|tojson }}", '{"text"'),
    ("{{ ('=' * 20) ~ '\n' ~ alert.message.zfill(30) }}", "===="),
]


@pytest.mark.parametrize("template", BOMBS)
def test_a_bomb_is_refused_at_save_naming_the_limit(api, template):
    response = api.post("/endpoints", json={"name": "bomb", "url": "http://127.0.0.1:9/x", "format": "template",
                                            "template": template})
    assert response.status_code == 400
    message = response.get_json()["error"]["fields"]["template"]
    assert any(words in message for words in ("not allowed", "may not", "no variable", "No filter named")), message


@pytest.mark.parametrize(("template", "expected"), FINE)
def test_ordinary_templates_still_render(api, template, expected):
    response = api.post("/endpoints", json={"name": "fine", "url": "http://127.0.0.1:9/x", "format": "template",
                                            "template": template})
    assert response.status_code == 201, response.get_json()


def test_preview_refuses_a_bomb_on_the_field(auth, client):
    auth.signup()
    response = client.post("/settings/alerts/endpoints/new", data={
        "name": "bomb", "url": "http://127.0.0.1:9/x", "format": "template", "timeout_seconds": "5",
        "template": BOMBS[0], "preview": "Preview"})
    assert response.status_code == 200
    assert "templates may not build strings or lists longer than 10000" in response.get_data(as_text=True)


def test_a_stored_bomb_fails_its_delivery_with_the_limit_named(api, db):
    """A template saved before these limits existed is refused at send, with nothing sent."""
    endpoint_id = endpoint_id_via_api(api)
    endpoint = db.session.get(Endpoint, endpoint_id)
    endpoint.format, endpoint.template = "template", BOMBS[1]
    db.session.commit()
    answer = api.post(f"/endpoints/{endpoint_id}/test").get_json()
    assert answer["outcome"] == "template"
    assert "may not build strings" in answer["error"]
    db.session.rollback()
    assert db.session.scalar(sa.select(Endpoint.template).where(Endpoint.id == endpoint_id)) == BOMBS[1]


def test_rendering_every_bomb_stays_within_a_small_memory_budget():
    """In a fresh process, so its peak resident memory is the bombs' alone."""
    script = (
        "import json, resource, sys\n"
        "from webapp.services.formats import PayloadError, template\n"
        "context = {'alert': {'message': 'm', 'severity': 'info', 'type': 'run_failed'}, 'job': None,\n"
        "           'run': None, 'rule': None, 'workspace': {'name': 'w'}}\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "refused = 0\n"
        "for text in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        "        template.render_template(text, 'alert.test', context, 'now', {})\n"
        "    except PayloadError:\n"
        "        refused += 1\n"
        "print(refused, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(BOMBS), capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120, env={"TOCSIN_ENV": "testing", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    refused, grown_mib = map(int, result.stdout.split())
    assert refused == len(BOMBS)
    assert grown_mib < 50
