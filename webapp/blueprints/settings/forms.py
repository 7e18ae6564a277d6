from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length

# Each scope with the one line the page shows under it (API_KEY_SCOPES; the API enforces them).
API_KEY_SCOPE_EXPLANATIONS = {
    "ingest": "Reports, finishes and reads runs — what a cron host needs. It cannot read endpoints, "
              "their secrets or URLs, nor change rules.",
    "full": "Everything the API does, endpoint secrets included: for automation that manages Tocsin.",
}


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=100)],
                       description="What uses this key, e.g. “nightly cron on db-01”.")
    # A POST without `scope` gets `ingest` too: the narrow scope is the default.
    scope = RadioField("Scope", choices=list(API_KEY_SCOPE_EXPLANATIONS), default="ingest")
    submit = SubmitField("Create API key")


class InviteForm(FlaskForm):
    email = EmailField("Email", filters=[lambda value: value.strip() if isinstance(value, str) else value],
                       validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
                       description="Who may join this workspace with the link (it works for this address only).")
    submit = SubmitField("Create invite link")


class ConfirmForm(FlaskForm):
    """An empty form: a POST button protected by CSRF."""
