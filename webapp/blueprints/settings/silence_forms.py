"""The silence forms. They only carry the input (and CSRF): `services.silences.validate` is the
one check, shared with the API, and its field errors are put back on these fields. Times are
typed in the reader's zone (datetime-local inputs); a weekly window has its own zone."""
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.widgets import CheckboxInput, DateTimeLocalInput, ListWidget, TimeInput

from webapp.models import Endpoint, Rule
from webapp.services.silences import MAX_COMMENT
from webapp.services.silences.windows import WEEKDAYS

DAY_LABELS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SilenceForm(FlaskForm):
    job_filter = StringField("Jobs", description="A job slug or a pattern such as billing-* (* any text, "
                                                 "? one character; * alone: every job). Empty: any job.")
    rule_id = SelectField("Rule", validate_choice=False, description="Only this rule's alerts.")
    endpoint_id = SelectField("Endpoint", validate_choice=False,
                              description="Only the deliveries to this endpoint; the others still go out.")
    kind = RadioField("When", choices=[SelectChoice("once", "Once, from start to end"),
                                       SelectChoice("weekly", "Every week, on these days and hours")],
                      default="once", validate_choice=False)
    starts_at = StringField("Start", widget=DateTimeLocalInput(), description="Empty: now.")
    ends_at = StringField("End", widget=DateTimeLocalInput(),
                          description="Required for a one-off silence; for a weekly one, empty: until ended.")
    weekdays = SelectMultipleField("Days", choices=[
                                   SelectChoice(day, label) for day, label in zip(WEEKDAYS, DAY_LABELS, strict=True)],
                                   coerce=str, validate_choice=False, widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput())
    start_time = StringField("From", widget=TimeInput(), default="22:00")
    end_time = StringField("Until", widget=TimeInput(), default="06:00",
                           description="Not after “From”: the window crosses midnight.")
    timezone = StringField("Time zone of the window", description="An IANA name, e.g. Europe/Paris.")
    comment = TextAreaField("Comment", description=f"Why (up to {MAX_COMMENT} characters), e.g. “database upgrade”.")
    submit = SubmitField("Create silence")

    def set_choices(self, rules: list[Rule], endpoints: list[Endpoint]) -> None:
        self.rule_id.choices = [SelectChoice("", "Any rule")] + [SelectChoice(str(rule.id), rule.name) for rule in rules]
        self.endpoint_id.choices = [SelectChoice("", "Every endpoint")] + [
            SelectChoice(str(endpoint.id), endpoint.name) for endpoint in endpoints]

    def service_input(self) -> dict:
        weekly = None
        if self.kind.data == "weekly":
            weekly = {"weekdays": list(self.weekdays.data or []), "start_time": self.start_time.data or "",
                      "end_time": self.end_time.data or "", "timezone": (self.timezone.data or "").strip()}
        return {"job_filter": self.job_filter.data, "rule_id": self.rule_id.data or None,
                "endpoint_id": self.endpoint_id.data or None, "starts_at": self.starts_at.data or None,
                "ends_at": self.ends_at.data or None, "weekly": weekly, "comment": self.comment.data}


class QuickSilenceForm(FlaskForm):
    """A "Silence 1 h" / "until tomorrow 09:00" button on an alert or a job."""
    job_filter = HiddenField()
    rule_id = HiddenField()
    until = HiddenField()  # services.silences.QUICK_CHOICES
    next = HiddenField()
