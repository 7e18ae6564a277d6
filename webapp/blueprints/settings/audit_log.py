"""Settings → Audit log: who did what in this workspace, newest first, filtered by actor, object
type and time; each object linked to its page, each edit shown as `field: old → new`."""
from flask import render_template, request
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, ValidationError
from wtforms.validators import Optional

from webapp.blueprints.date_range import read_date_range
from webapp.blueprints.navigation import page_number
from webapp.blueprints.settings import bp
from webapp.extensions import db
from webapp.services import audit_log as audit_log_service
from webapp.tenancy import current_workspace_id

EVENTS_PER_PAGE = 50
PAGING_ARGUMENTS = ("page",)


def _listed(message: str):
    """A select's value must be one it lists (a hand-edited link gets `message`, not a 500)."""
    def check(form, field):
        if field.data and field.data not in {value for value, _ in field.choices}:
            raise ValidationError(message)
    return check


class AuditFilterForm(FlaskForm):
    """The GET filters above the log (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    actor = SelectField("Actor", validate_choice=False, validators=[
        Optional(), _listed("Choose an actor from the list: nobody by that id appears in this log.")])
    object_type = SelectField("Object type", validate_choice=False, validators=[
        Optional(), _listed("Choose an object type from the list: this log holds none of that type.")])
    # Read by the date-range picker (webapp/blueprints/date_range.py) in the reader's zone.
    since = StringField("Since", validators=[Optional()])
    until = StringField("Until", validators=[Optional()])


def _filter_form(workspace_id: int) -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    form.actor.choices = [("", "Anyone")] + audit_log_service.actor_choices(workspace_id)
    form.object_type.choices = [("", "Any type")] + audit_log_service.object_type_choices(workspace_id)
    return form


def _filters_from(form: AuditFilterForm, date_range) -> audit_log_service.AuditFilter:
    return audit_log_service.AuditFilter(actor=form.actor.data or None, object_type=form.object_type.data or None,
                                         since=date_range.since, until=date_range.until)


@bp.route("/audit-log")
@login_required
def audit_log():
    workspace_id = current_workspace_id()
    form = _filter_form(workspace_id)
    date_range = read_date_range(form.since.data, form.until.data)
    valid = form.validate() and not date_range.errors
    filters = _filters_from(form, date_range) if valid else audit_log_service.AuditFilter()
    page = db.paginate(audit_log_service.filtered(workspace_id, filters), page=page_number(),
                       per_page=EVENTS_PER_PAGE, error_out=False)
    events = list(page.items)
    kept = {name: value for name, value in request.args.items() if name not in PAGING_ARGUMENTS and value}
    return render_template("settings/audit_log.html", form=form, page=page, events=events, kept=kept,
                           valid=valid, date_errors=date_range.errors,
                           objects=audit_log_service.object_refs(workspace_id, events),
                           changes=audit_log_service.change_lines(workspace_id, events),
                           type_label=audit_log_service.object_type_label,
                           api_key_words=audit_log_service.api_key_words)
