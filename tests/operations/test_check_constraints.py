"""The database refuses a value no code means in every enumerated column, on SQLite and PostgreSQL,
and the models' lists of names stay in step with the registries that use them."""
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.support.factories import make_alert, make_delivery, make_endpoint
from webapp.extensions import db
from webapp.models import Alert, Delivery, Endpoint, Job, Membership, Rule, Run, Workspace
from webapp.models.endpoints import ENDPOINT_FORMATS, SIGNATURE_SCHEMES
from webapp.services import accounts, formats, signing


def test_the_models_name_every_format_and_scheme_the_registries_have():
    assert set(ENDPOINT_FORMATS) == set(formats.FORMATS)
    assert set(SIGNATURE_SCHEMES) == set(signing.SCHEMES)


@pytest.mark.postgres_too
@pytest.mark.parametrize(("model", "column"), [
    (Run, "status"), (Alert, "type"), (Alert, "severity"), (Alert, "state"), (Delivery, "status"),
    (Delivery, "event"), (Rule, "event"), (Rule, "severity"), (Endpoint, "format"), (Endpoint, "signature_scheme"),
    (Membership, "role"),
])
def test_an_unknown_value_is_refused_by_the_database(app, database_uri, model, column):
    user = accounts.create_user("owner@example.com", "correct horse battery")
    workspace = db.session.get(Workspace, user.workspace_id)
    endpoint, _ = make_endpoint(workspace, "http://127.0.0.1:9/hook")
    alert = make_alert(endpoint)
    make_delivery(endpoint, alert)
    job = Job(workspace_id=workspace.id, slug="nightly", name="nightly")
    db.session.add(job)
    db.session.flush()
    db.session.add_all([Rule(workspace_id=workspace.id, name="r", event="run_failed"),
                        Run(workspace_id=workspace.id, job_id=job.id, status="failed")])
    db.session.commit()
    table = model.__table__
    row_id = db.session.scalar(sa.select(table.c.id).limit(1))
    with pytest.raises(IntegrityError, match="ck_|CHECK|check"):
        db.session.execute(sa.update(table).where(table.c.id == row_id).values({column: "bogus"}))
    db.session.rollback()
