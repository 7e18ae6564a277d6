from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=100)],
                       description="What uses this key, e.g. “nightly cron on db-01”.")
    submit = SubmitField("Create API key")


class InviteForm(FlaskForm):
    email = EmailField("Email", filters=[lambda value: value.strip() if isinstance(value, str) else value],
                       validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
                       description="Who may join this workspace with the link (it works for this address only).")
    submit = SubmitField("Create invite link")


class ConfirmForm(FlaskForm):
    """An empty form: a POST button protected by CSRF."""
