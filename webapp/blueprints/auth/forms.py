"""Sign-up and log-in forms; the account rules themselves live in services/accounts.py."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from webapp.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, PASSWORD_RULE


def _strip(value: str | None) -> str | None:
    """Pasted addresses often carry spaces; the service lower-cases them."""
    return value.strip() if isinstance(value, str) else value


class SignupForm(FlaskForm):
    email = EmailField("Email", filters=[_strip],
                       validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField("Password", description=PASSWORD_RULE, validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD_LENGTH, message=f"The password must be at least {MIN_PASSWORD_LENGTH} characters."),
        Length(max=MAX_PASSWORD_LENGTH, message=f"The password must be at most {MAX_PASSWORD_LENGTH} characters."),
    ])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Create account")


class InviteSignupForm(FlaskForm):
    """Sign-up from an invite link: the email is the invite's, shown and not editable."""

    password = SignupForm.password
    confirm = SignupForm.confirm
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):
    email = EmailField("Email", filters=[_strip], validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Remember me on this browser")
    submit = SubmitField("Log in")


class InviteLoginForm(FlaskForm):
    """Accepting an invite for an address that already has an account: its password."""

    password = PasswordField("Password", validators=[DataRequired()])
    submit = SubmitField("Log in and join")


class InviteJoinForm(FlaskForm):
    """Accepting an invite while logged in as the invited address."""

    submit = SubmitField("Join the workspace")
