"""The rule form. It only carries the input (and CSRF): `services.rules.validate` is the one
check, shared with the API, and its field errors are put back on these fields."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.widgets import CheckboxInput, ListWidget, NumberInput

from webapp.models import (
    DEFAULT_CONSECUTIVE_COUNT,
    EVENT_CONDITIONS,
    RULE_EVENTS,
    SEVERITIES,
    SYSTEM_EVENTS,
    Endpoint,
    Rule,
)
from webapp.models.rules import RUN_EVENTS
from webapp.services.alerting import rules as rule_service

# Run events, then the system events (about alerting itself) in a group of their own.
EVENT_CHOICES = [SelectChoice(event, EVENT_CONDITIONS[event], optgroup="A job's runs") for event in RUN_EVENTS] + [
    SelectChoice(event, EVENT_CONDITIONS[event], optgroup="Alerting itself") for event in SYSTEM_EVENTS]
SEVERITY_CHOICES = [SelectChoice(severity, severity.capitalize()) for severity in SEVERITIES]


class RuleForm(FlaskForm):
    name = StringField("Name", description="What the rule is for, e.g. “Nightly jobs failing”.")
    event = SelectField("When", choices=EVENT_CHOICES, validate_choice=False)
    job_filter = StringField("Jobs", description="A job slug or a pattern such as billing-* "
                                                 "(* any text, ? one character). Empty: all jobs.")
    threshold_seconds = StringField("Slower than (seconds)", widget=NumberInput(min=1),
                                    description="Only for “a run is slower than a threshold”: "
                                                "alert when a run takes longer than this.")
    consecutive_count = StringField("Failures in a row", widget=NumberInput(min=2, max=100),
                                    default=str(DEFAULT_CONSECUTIVE_COUNT),
                                    description="Only for “fails several times in a row”: alert when the "
                                                "streak of failed runs reaches this number (2–100).")
    severity = SelectField("Severity", choices=SEVERITY_CHOICES, default=rule_service.DEFAULT_SEVERITY,
                           validate_choice=False)
    endpoint_ids = SelectMultipleField("Send to", coerce=str, validate_choice=False,
                                       widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    max_attempts = StringField("Maximum delivery attempts", widget=NumberInput(min=1, max=20),
                               description="1–20; failed deliveries are retried with backoff until then. "
                                           "Blank: each endpoint's own budget (its retry policy).")
    cooldown_seconds = StringField("Cooldown (seconds)", widget=NumberInput(min=0),
                                   default=str(rule_service.DEFAULT_COOLDOWN_SECONDS),
                                   description="A repeat for the same job within this time is counted on "
                                               "the open alert instead of being sent again (0–604800).")
    notify_on_resolve = BooleanField("Notify on resolve", default=True,
                                     description="Send “Resolved” to the endpoints the alert went to when it "
                                                 "resolves (the job's next success, or a person's Resolve).")
    repeat_interval_seconds = StringField("Repeat every (seconds)", widget=NumberInput(min=10),
                                          description="While the alert fires and nobody acknowledged it, send it "
                                                      "again this often (10–604800). Empty: never repeat.")
    is_active = BooleanField("Active", default=True)
    submit = SubmitField("Save rule")

    def preselect_event(self, event: str | None) -> None:
        """A new rule's event from the page's `?event=` (the overview's "Tell me when alerting
        breaks" links to `?event=endpoint_disabled`); an unknown value is ignored."""
        if event in RULE_EVENTS:
            self.event.data = event

    def set_endpoint_choices(self, endpoints: list[Endpoint]) -> None:
        self.endpoint_ids.choices = [
            SelectChoice(str(endpoint.id), endpoint.name + ("" if endpoint.is_active else " (disabled)"))
            for endpoint in endpoints]

    def fill_from(self, rule: Rule) -> None:
        """Show a saved rule (on GET of the edit page)."""
        for name in ("name", "event", "severity", "notify_on_resolve", "is_active"):
            getattr(self, name).data = getattr(rule, name)
        self.job_filter.data = rule.job_filter or ""
        for name in ("threshold_seconds", "consecutive_count", "max_attempts", "cooldown_seconds",
                     "repeat_interval_seconds"):
            value = getattr(rule, name)
            if value is not None:
                getattr(self, name).data = str(value)
        self.endpoint_ids.data = [str(endpoint_id) for endpoint_id in rule_service.live_endpoint_ids(rule)]

    def service_input(self) -> dict:
        """The submitted values in the service's shape: numbers parsed where they parse, left as
        text otherwise, so the service's "must be a whole number" is the one message."""
        def number(text):
            text = (text or "").strip()
            if not text:
                return None
            try:
                return int(text)
            except ValueError:
                return text

        return {
            "name": self.name.data or "", "event": self.event.data, "job_filter": self.job_filter.data,
            "threshold_seconds": number(self.threshold_seconds.data),
            "consecutive_count": number(self.consecutive_count.data),
            "severity": self.severity.data, "endpoint_ids": [number(value) for value in self.endpoint_ids.data or []],
            "max_attempts": number(self.max_attempts.data), "cooldown_seconds": number(self.cooldown_seconds.data),
            "notify_on_resolve": bool(self.notify_on_resolve.data),
            "repeat_interval_seconds": number(self.repeat_interval_seconds.data),
            "is_active": bool(self.is_active.data),
        }
