"""/api/v1/config: the workspace's jobs, endpoints and rules as one document (docs/config.md),
read with GET and applied with POST (`dry_run=true` plans only). Over the API references
(`{env: …}`) are never read from the server's environment, which belongs to no workspace: an
unset reference keeps the stored value, as in the shell when the variable is unset."""
from flask import Response, jsonify, request

from webapp.blueprints.api import bp
from webapp.errors import ApiError
from webapp.services import config_as_code
from webapp.services.config_as_code.document import UnreadableDocument
from webapp.tenancy import current_user_id, current_workspace_id

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
FLAGS = {"true": True, "1": True, "false": False, "0": False, "": False}


def _flag(name: str) -> bool:
    value = request.args.get(name, "").lower()
    if value not in FLAGS:
        raise ApiError(400, "invalid_filter", f"{name} must be true or false.", {name: "Must be true or false."})
    return FLAGS[value]


@bp.get("/config")
def export_config():
    output_format = request.args.get("format", "json")
    if output_format not in ("json", "yaml"):
        raise ApiError(400, "invalid_filter", "format must be json or yaml.", {"format": "Must be json or yaml."})
    document = config_as_code.export_document(current_workspace_id())
    if output_format == "yaml":
        return Response(config_as_code.dump(document, "yaml"), mimetype="application/yaml")
    return jsonify(document)


@bp.post("/config")
def import_config():
    dry_run, prune = _flag("dry_run"), _flag("prune")
    if request.mimetype not in ("application/json", *YAML_TYPES):
        raise ApiError(415, "unsupported_media_type",
                       "Send the document as application/json or application/yaml.")
    try:
        document = config_as_code.load(request.get_data(as_text=True))
        plan = config_as_code.apply_document(current_workspace_id(), document, environ={}, dry_run=dry_run,
                                             prune=prune, user_id=current_user_id(), client_ip=request.remote_addr)
    except UnreadableDocument as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    except config_as_code.InvalidDocument as error:
        fields = {}
        for line in error.errors:
            where, _, message = line.partition(": ")
            fields[where] = f"{fields[where]}; {message}" if where in fields else message
        raise ApiError(400, "validation_error",
                       f"The configuration was not applied: {len(error.errors)} error(s), nothing changed.",
                       fields) from None
    return jsonify({"dry_run": dry_run, "applied": plan.applied, "counts": plan.counts(),
                    "changes": [change.as_json() for change in plan.changes], "plan": plan.lines()})
