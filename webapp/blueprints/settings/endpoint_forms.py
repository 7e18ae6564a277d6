"""Forms of the endpoint pages. They only parse what a browser sends (e.g. the headers textarea);
the rules themselves live in services/endpoints.py so the API applies the very same ones."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField, URLField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from webapp.services import formats
from webapp.services.endpoints import InvalidEndpoint
from webapp.services.endpoints.urls import shown_url

HEADERS_HINT_NEW = "Optional, one “Name: value” per line, e.g. “Authorization: Bearer abc123”. Values are stored encrypted."
URL_HINT_EDIT = ("The stored URL is shown masked (it is a credential): leave blank to keep the current URL, or "
                 "enter a new one. Reveal URL on the endpoint's page shows it.")
HEADERS_HINT_EDIT = ("One “Name: value” per line. Stored values are never shown: leave a line as “Name:” to keep its "
                     "current value, type a new value to replace it, delete the line to remove the header.")


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
    headers = TextAreaField("Custom headers", validators=[Optional()], description=HEADERS_HINT_NEW)
    timeout_seconds = IntegerField("Timeout (seconds)", default=10,
                                   validators=[InputRequired(), NumberRange(min=1, max=30)],
                                   description="How long to wait for an answer, 1–30 seconds.")
    preview = SubmitField("Preview payload")
    submit = SubmitField("Create endpoint")

    def data_for_service(self, *, editing: bool) -> dict:
        """The fields as services/endpoints.py expects them; header syntax errors land on the field."""
        data = {"name": self.name.data or "", "url": self.url.data or "", "format": self.format.data,
                "template": self.template.data or None, "timeout_seconds": self.timeout_seconds.data}
        if editing and not data["url"].strip():
            del data["url"]  # blank on edit: keep the stored URL
        try:
            data["headers"] = parse_header_lines(self.headers.data, keep_blank_values=editing)
        except HeaderLinesError as error:
            raise InvalidEndpoint({"headers": str(error)}) from None
        return data


class NewEndpointForm(EndpointForm):
    secret = StringField("Signing secret (optional)", validators=[Optional(), Length(max=200)],
                         render_kw={"autocomplete": "off", "spellcheck": "false"},
                         description="Leave empty to generate one. To reuse a secret, paste it in Standard Webhooks "
                                     "form: whsec_ followed by base64 of 24–64 bytes.")

    def data_for_service(self, *, editing: bool = False) -> dict:
        data = super().data_for_service(editing=False)
        if self.secret.data:
            data["secret"] = self.secret.data
        return data


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
        self.url.validators = [Optional(), Length(max=2048)]
        self.url.flags.required = False
        self.url.description = URL_HINT_EDIT
        if obj is not None:  # a new dict: render_kw is shared by every instance of the form
            self.url.render_kw = {**(self.url.render_kw or {}), "placeholder": shown_url(obj)}
