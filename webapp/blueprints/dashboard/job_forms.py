"""The job page's schedule form. It only carries the input (and CSRF): `services.alerting.jobs`
validates, as for the API, and its field errors are put back on these fields."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.widgets import NumberInput

from webapp.models import DEFAULT_GRACE_SECONDS, Job

KINDS = [SelectChoice("none", "No schedule"), SelectChoice("interval", "Every N seconds"),
         SelectChoice("cron", "Cron expression")]
# The service names fields as the API does; these are the form's names for them.
FORM_FIELD = {"schedule": "kind", "schedule.every_seconds": "every_seconds", "schedule.cron": "cron",
              "schedule.timezone": "timezone"}


def _number(text: str | None):
    """Digits become a number; anything else goes to the service as typed, which refuses it."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else (text or None)


class ScheduleForm(FlaskForm):
    kind = SelectField("Expected schedule", choices=KINDS, default="none", validate_choice=False)
    every_seconds = StringField("Every (seconds)", widget=NumberInput(min=1),
                                description="For “every N seconds”: a run is expected this long after the last report.")
    cron = StringField("Cron expression", description="Five fields: minute hour day-of-month month day-of-week, "
                                                       "for example */15 * * * *.")
    timezone = StringField("Time zone", default="UTC",
                           description="IANA name the cron expression is read in, for example Europe/Berlin.")
    grace_seconds = StringField("Grace (seconds)", widget=NumberInput(min=0), default=str(DEFAULT_GRACE_SECONDS),
                                description="How long after the expected time a run may start before it counts as missed.")
    is_paused = BooleanField("Paused (no runs expected, no missed-run alerts)")
    submit = SubmitField("Save schedule")

    def fill_from(self, job: Job) -> None:
        schedule = job.schedule or {}
        self.kind.data = "interval" if "every_seconds" in schedule else "cron" if "cron" in schedule else "none"
        self.every_seconds.data = str(schedule.get("every_seconds", "")) or ""
        self.cron.data = schedule.get("cron", "")
        self.timezone.data = schedule.get("timezone", "UTC")
        self.grace_seconds.data = str(job.grace_seconds)
        self.is_paused.data = job.is_paused

    def service_input(self) -> dict:
        if self.kind.data == "interval":
            schedule = {"every_seconds": _number(self.every_seconds.data)}
        elif self.kind.data == "cron":
            schedule = {"cron": (self.cron.data or "").strip(), "timezone": (self.timezone.data or "").strip() or "UTC"}
        else:
            schedule = None
        return {"schedule": schedule, "grace_seconds": _number(self.grace_seconds.data),
                "is_paused": bool(self.is_paused.data)}

    @staticmethod
    def field_errors(errors: dict[str, str]) -> dict[str, str]:
        return {FORM_FIELD.get(name, name): message for name, message in errors.items()}


class NameForm(FlaskForm):
    """The job page's rename form (prefixed: the schedule form on the same page has its own CSRF field)."""

    name = StringField("Display name", description="Shown instead of the slug on every page. Run reports keep "
                                                   "using the slug, which never changes. Leave empty to show the slug.")
    submit = SubmitField("Save name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="rename", **kwargs)

    def service_input(self) -> dict:
        """Empty means "show the slug" (the service stores the slug as the name)."""
        return {"name": (self.name.data or "").strip() or None}
