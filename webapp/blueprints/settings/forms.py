from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=100)],
                       description="What uses this key, e.g. “nightly cron on db-01”.")
    submit = SubmitField("Create API key")


class ConfirmForm(FlaskForm):
    """An empty form: a POST button protected by CSRF."""
