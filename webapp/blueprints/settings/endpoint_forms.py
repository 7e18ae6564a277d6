"""Forms of the endpoint pages. They only parse what a browser sends (e.g. the headers textarea);
the rules themselves live in services/endpoints.py so the API applies the very same ones, and a
faulty submit asks that service too, so every field's error shows in one response."""
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from webapp.blueprints.form_errors import show_errors
from webapp.models import DEFAULT_MAX_ATTEMPTS
from webapp.services import formats, signing
from webapp.services.delivery import retry_policy
from webapp.services.endpoints import InvalidEndpoint, delivery_policy
from webapp.services.endpoints import validate as validate_endpoint
from webapp.services.endpoints.urls import shown_url
from webapp.services.signing import hmac_hex, timestamped_hmac

HEADERS_HINT_NEW = "Optional, one “Name: value” per line, e.g. “Authorization: Bearer abc123”. Values are stored encrypted."
URL_HINT_EDIT = ("The stored URL is shown masked (it is a credential): leave blank to keep the current URL, or "
                 "enter a new one. Reveal URL on the endpoint's page shows it.")
ROUTING_KEY_HINT = ("Only for PagerDuty: the Integration Key of an Events API v2 integration on your PagerDuty "
                    "service (32 characters). Stored encrypted, never shown again.")
ACCESS_TOKEN_HINT = ("Only for ntfy, optional: an access token (tk_…) for a protected topic, sent as "
                     "“Authorization: Bearer”. Stored encrypted, never shown again.")
KEEP_CREDENTIAL_HINT = " Leave empty to keep the current one."
HEADERS_HINT_EDIT = ("One “Name: value” per line. Stored values are never shown: leave a line as “Name:” to keep its "
                     "current value, type a new value to replace it, delete the line to remove the header.")


RETRY_POLICY_CHOICES = [
    SelectChoice("default", f"Default: {delivery_policy.delays_in_words(None)}"),
    SelectChoice("quick", f"Quick: {delivery_policy.delays_in_words(retry_policy.QUICK_DELAYS)}"),
    SelectChoice("custom", "Custom delays"),
]


class HeaderLinesError(ValueError):
    pass


def parse_header_lines(text: str | None, *, keep_blank_values: bool) -> dict[str, str | None]:
    """`Name: value` lines → {name: value}; a blank value means "keep the stored one" on edit (None)."""
    headers: dict[str, str | None] = {}
    for number, raw_line in enumerate((text or "").splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name:
            raise HeaderLinesError(f"line {number} is not “Name: value”")
        if not value and not keep_blank_values:
            raise HeaderLinesError(f"header {name} has no value")
        headers[name] = value or None
    return headers


def header_lines(names) -> str:
    """The textarea's content on edit: names only, values kept (see HEADERS_HINT_EDIT)."""
    return "\n".join(f"{name}:" for name in names)


class EndpointForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)],
                       description="What receives these alerts, e.g. “#ops Slack channel”.")
    url = URLField("URL", validators=[InputRequired(), Length(max=2048)],
                   render_kw={"placeholder": "https://example.com/hooks/tocsin", "autocomplete": "off"},
                   description="http:// or https://. Private and loopback addresses are refused unless an "
                               "administrator allows them with TOCSIN_ALLOWED_NETWORKS.")
    format = SelectField("Payload format", choices=[SelectChoice(value, label) for value, label in formats.labels().items()],
                         default="json")
    template = TextAreaField("Template", validators=[Optional(), Length(max=20_000)],
                             description="Only for “Custom template”: Jinja (sandboxed) rendered with the alert as "
                                         "context, e.g. {\"text\": {{ alert.message|tojson }}}. Use Preview to try it.")
    routing_key = PasswordField("Routing key", validators=[Optional(), Length(max=128)], description=ROUTING_KEY_HINT,
                                render_kw={"autocomplete": "off", "spellcheck": "false"})
    access_token = PasswordField("Access token", validators=[Optional(), Length(max=512)],
                                 description=ACCESS_TOKEN_HINT, render_kw={"autocomplete": "off", "spellcheck": "false"})
    signature_scheme = SelectField(
        "Signature scheme", choices=[SelectChoice(value, label) for value, label in signing.labels().items()],
        default=signing.DEFAULT_SCHEME,
        description="How your receiver checks that an alert comes from Tocsin. Slack, Discord, Teams, ntfy and "
                    "PagerDuty check nothing (their URL or key is the credential): choose “None” for them.")
    signature_header = StringField(
        "Signature header", validators=[Optional(), Length(max=100)],
        render_kw={"placeholder": hmac_hex.DEFAULT_HEADER},
        description=f"The header your receiver reads, e.g. X-Hub-Signature-256; empty: {hmac_hex.DEFAULT_HEADER}.")
    signature_header_prefix = StringField(
        "Signature header prefix", validators=[Optional(), Length(max=60)],
        render_kw={"placeholder": timestamped_hmac.DEFAULT_PREFIX},
        description=f"Prefix of the Timestamp and Signature headers, e.g. X-CueAPI-; empty: "
                    f"{timestamped_hmac.DEFAULT_PREFIX}.")
    headers = TextAreaField("Custom headers", validators=[Optional()], description=HEADERS_HINT_NEW)
    timeout_seconds = IntegerField("Timeout (seconds)", default=10,
                                   validators=[InputRequired(), NumberRange(min=1, max=300)],
                                   description="How long to wait for an answer, 1–300 seconds.")
    # The retry policy and history limit: services/endpoints/delivery_policy.py checks them.
    retry_policy = SelectField("Retry policy", choices=RETRY_POLICY_CHOICES, default="default")
    retry_delays_seconds = StringField("Custom delays (seconds)", validators=[Optional(), Length(max=400)],
                                       description="Only for “Custom”: the waits after the 1st, 2nd, … failed "
                                                   "attempt, e.g. “1, 2, 4” (1–20 delays of 1–86,400 s; the last "
                                                   "one repeats). Each gets ±20 % jitter.")
    max_attempts = IntegerField("Maximum attempts", default=DEFAULT_MAX_ATTEMPTS,
                                validators=[Optional()],
                                description="1–20 attempts per alert, unless the alert's rule sets its own.")
    history_limit = IntegerField("History limit", validators=[Optional()],
                                 description="Keep only this endpoint's newest N finished deliveries. "
                                             "Empty: keep them by age only.")
    preview = SubmitField("Preview payload")
    submit = SubmitField("Create endpoint")
    unsigned_formats = signing.UNSIGNED_FORMATS  # the form's script proposes scheme none for these

    def checked_data(self, endpoint=None) -> dict | None:
        """On a submit with no mistake, the fields as services/endpoints expects them; else None,
        with every mistake of the submit next to its field at once: the form's own checks, the
        parsing of the headers and delays, and the service's rules for the fields that passed
        those (three mistakes take one submit, not three). A failed CSRF check goes no further."""
        if not self.is_submitted():
            return None
        form_valid = self.validate()
        if "csrf_token" in self.errors:
            return None
        data, errors = self.data_for_service(editing=endpoint is not None)
        if form_valid and not errors:
            return data
        failed = {name for name, messages in self.errors.items() if messages} | set(errors)
        try:
            validate_endpoint({name: value for name, value in data.items() if name not in failed}, endpoint)
        except InvalidEndpoint as error:
            errors.update({name: message for name, message in error.fields.items() if name not in failed})
        show_errors(self, errors)
        return None

    def data_for_service(self, *, editing: bool) -> tuple[dict, dict[str, str]]:
        """The fields as services/endpoints expects them, and the syntax errors of the headers and
        delays ({field: message}; such a field is left out of the data)."""
        data = {"name": self.name.data or "", "url": self.url.data or "", "format": self.format.data,
                "template": self.template.data or None, "timeout_seconds": self.timeout_seconds.data}
        errors: dict[str, str] = {}
        for credential in (self.routing_key, self.access_token):  # empty: none yet, or keep the stored one
            if credential.data:
                data[credential.name] = credential.data
        data.update(self.signature_data())
        data.update(self._policy_data(errors))
        if editing and not data["url"].strip():
            del data["url"]  # blank on edit: keep the stored URL
        try:
            data["headers"] = parse_header_lines(self.headers.data, keep_blank_values=editing)
        except HeaderLinesError as error:
            errors["headers"] = str(error)
        return data, errors

    def _policy_data(self, errors: dict[str, str]) -> dict:
        """The retry policy as the service takes it: a preset's delays or the parsed custom list
        (its syntax error goes into `errors`). Only the fields the browser sent (a blank history
        limit is sent: "by age only")."""
        data = {name: getattr(self, name).data for name in ("max_attempts", "history_limit")
                if getattr(self, name).raw_data}
        if not self.retry_policy.raw_data:
            return data
        if self.retry_policy.data == "custom":
            try:
                data["retry_delays_seconds"] = delivery_policy.parse_delays(self.retry_delays_seconds.data)
            except ValueError as error:
                errors["retry_delays_seconds"] = str(error)
        else:
            preset = retry_policy.PRESETS.get(self.retry_policy.data)
            data["retry_delays_seconds"] = list(preset) if preset is not None else None
        return data

    def show_policy(self, endpoint) -> None:
        """Show a saved endpoint's policy (on GET of the edit page): the preset it matches, or its list."""
        self.retry_policy.data = retry_policy.preset_of(endpoint.retry_delays_seconds)
        delays = endpoint.retry_delays_seconds
        self.retry_delays_seconds.data = ", ".join(str(delay) for delay in delays) if delays else ""


    def signature_data(self) -> dict:
        """The scheme, and the header name or prefix only where the chosen scheme uses it."""
        scheme = self.signature_scheme.data
        data = {"signature_scheme": scheme}
        if scheme == hmac_hex.NAME:
            data["signature_header"] = self.signature_header.data or None
        elif scheme == timestamped_hmac.NAME:
            data["signature_header_prefix"] = self.signature_header_prefix.data or None
        return data


class NewEndpointForm(EndpointForm):
    secret = StringField("Signing secret (optional)", validators=[Optional(), Length(max=256)],
                         render_kw={"autocomplete": "off", "spellcheck": "false"},
                         description="Leave empty to generate one. To reuse a secret: for Standard Webhooks, whsec_ "
                                     "followed by base64 of 24–64 bytes; for the hex schemes, any 16–256 printable "
                                     "characters (e.g. your receiver's 64-hex secret).")

    def data_for_service(self, *, editing: bool = False) -> tuple[dict, dict[str, str]]:
        data, errors = super().data_for_service(editing=False)
        if self.secret.data:
            data["secret"] = self.secret.data
        return data, errors


class _WithoutUrl:
    """The endpoint's attributes for the edit form but its URL, which never goes into a page in clear."""

    def __init__(self, endpoint):
        self._endpoint = endpoint

    def __getattr__(self, name):
        if name == "url":
            raise AttributeError(name)
        return getattr(self._endpoint, name)


class EditEndpointForm(EndpointForm):
    submit = SubmitField("Save changes")

    def __init__(self, *args, obj=None, **kwargs):
        super().__init__(*args, obj=_WithoutUrl(obj) if obj is not None else None, **kwargs)
        self.headers.description = HEADERS_HINT_EDIT
        self.routing_key.description = ROUTING_KEY_HINT + KEEP_CREDENTIAL_HINT
        self.access_token.description = ACCESS_TOKEN_HINT + KEEP_CREDENTIAL_HINT
        if obj is not None and not self.is_submitted():
            self.show_policy(obj)
        self.url.validators = [Optional(), Length(max=2048)]
        self.url.flags.required = False
        self.url.description = URL_HINT_EDIT
        if obj is not None:  # a new dict: render_kw is shared by every instance of the form
            self.url.render_kw = {**(self.url.render_kw or {}), "placeholder": shown_url(obj)}
