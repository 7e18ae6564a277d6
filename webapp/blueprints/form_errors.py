"""Errors on a form, one way everywhere (cookiecutter-flask's `flash_errors`): a service's or a
view's messages next to their fields, or one flash when the page redirects away from the form."""
from flask import flash
from flask_wtf import FlaskForm


def show_errors(form: FlaskForm, errors: dict[str, str]) -> None:
    """Put each message on its field (after `validate` too); one naming no field goes on the form."""
    for name, message in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            form.form_errors.append(message)


def flash_errors(form: FlaskForm, lead: str, fallback: str) -> None:
    """Flash `lead: every error; …` (or `lead: fallback`) for a form posted from another page."""
    errors = "; ".join(error for messages in form.errors.values() for error in messages)
    flash(f"{lead}: {errors or fallback}.", "error")
