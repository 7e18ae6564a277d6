"""Every route's ids and every query or form value checked against what the database can hold
(webapp/validators.py), so an extreme value is a 404 or a 400, never a driver error."""
from flask import Flask, request
from werkzeug.routing import IntegerConverter

from webapp.errors import ApiError
from webapp.validators import MAX_ID, text_problem


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits within the ids' range (validators.MAX_ID), so a page
    id of 99999999999999999999 is a 404 like any unknown id, not an overflow in the driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter

    @app.before_request
    def refuse_unstorable_query_and_form_values():
        """A filter or form value no column could hold is refused here, for every route."""
        sources = [("query", request.args)]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sources.append(("form", request.form))
        for where, values in sources:
            for name, value in values.items(multi=True):
                problem = text_problem(name) or text_problem(value)
                if problem:
                    raise ApiError(400, "validation_error", f"The {where} value {name!r} {problem}.",
                                   {name: problem})
