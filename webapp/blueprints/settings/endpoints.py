"""Settings → Alerts → Endpoints: list, create, edit, detail, test send, reveal/rotate the
secret, reveal the URL, enable/disable and delete. Rules and auditing live in services/endpoints.py."""
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.endpoint_forms import EditEndpointForm, NewEndpointForm, header_lines
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import Endpoint
from webapp.services import crypto, history, signing
from webapp.services import endpoints as service
from webapp.services.endpoints import Actor, InvalidEndpoint, delivery_policy
from webapp.services.endpoints.urls import shown_url
from webapp.services.signing import snippets
from webapp.sessions import keep_for_next_page, take_from_session
from webapp.tenancy import current_workspace_id, get_or_404, scoped

SHOWN_SECRET = "endpoint_secret"  # session key: a secret to show once on the detail page
SHOWN_URL = "endpoint_url"  # session key: a revealed URL to show once on the detail page
TEST_OUTCOME = "endpoint_test_outcome"  # session key: the last "Send test alert" result
EXCERPT_CHARACTERS = 300


def _actor() -> Actor:
    return Actor(current_user.id, request.remote_addr)


def _detail(endpoint: Endpoint):
    return redirect(url_for("settings.endpoint_detail", endpoint_id=endpoint.id))


def _show_secret_once(endpoint: Endpoint, secret: str, why: str) -> None:
    keep_for_next_page(SHOWN_SECRET, {"endpoint_id": endpoint.id, "secret": secret, "why": why})


@bp.app_template_filter("masked_url")
def masked_url(endpoint: Endpoint) -> str:
    """`{{ endpoint|masked_url }}`: how every page shows an endpoint's URL."""
    return shown_url(endpoint)


@bp.app_template_global("signature_of")
def signature_of(endpoint: Endpoint) -> dict:
    """What the endpoint's page says about its signature: the scheme, the headers sent, whether
    two secrets sign after a rotation, and the verification snippets with the real header names."""
    settings = signing.settings_of(endpoint)
    module = signing.scheme(settings.scheme)
    return {"scheme": module, "sent_headers": snippets.sent_headers(settings), "snippets": snippets.snippets(settings)}


@bp.route("/alerts/endpoints")
@login_required
def endpoints():
    rows = list(db.session.scalars(scoped(Endpoint).order_by(Endpoint.name, Endpoint.id)))
    return render_template("settings/endpoints/list.html", endpoints=rows,
                           health=service.health_details(rows), last=service.last_deliveries(rows),
                           test_outcome=session.pop(TEST_OUTCOME, None))


@bp.route("/alerts/endpoints/new", methods=["GET", "POST"])
@login_required
def new_endpoint():
    form, preview = NewEndpointForm(), None
    data = form.checked_data()
    if data is not None:
        try:
            if form.preview.data:
                preview = service.preview(current_workspace_id(), data)
            else:
                endpoint, secret = service.create_endpoint(current_workspace_id(), current_user.id, data,
                                                           client_ip=request.remote_addr)
                db.session.commit()
                if secret:  # None for the scheme none, which signs nothing
                    _show_secret_once(endpoint, secret, "created")
                flash(f"Endpoint “{endpoint.name}” created." + (" Copy its signing secret now." if secret else ""),
                      "success")
                return _detail(endpoint)
        except InvalidEndpoint as error:
            show_errors(form, error.fields)
    return render_template("settings/endpoints/form.html", form=form, endpoint=None, preview=preview)


@bp.route("/alerts/endpoints/<int:endpoint_id>")
@login_required
def endpoint_detail(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    shown = take_from_session(SHOWN_SECRET, lambda value: value.get("endpoint_id") == endpoint.id)
    revealed_url = take_from_session(SHOWN_URL, lambda value: value.get("endpoint_id") == endpoint.id)
    outcome = session.get(TEST_OUTCOME)
    if outcome and outcome.get("endpoint_id") == endpoint.id:
        session.pop(TEST_OUTCOME)
    else:
        outcome = None
    return render_template(
        "settings/endpoints/detail.html", endpoint=endpoint, health=service.health_of(endpoint),
        header_names=sorted(endpoint.headers_encrypted or {}), shown_secret=shown, test_outcome=outcome,
        revealed_url=revealed_url and revealed_url["url"],
        deliveries=history.recent_deliveries(endpoint.workspace_id, endpoint_id=endpoint.id),
        previous_valid_until=service.previous_secret_valid_until(endpoint),
        **delivery_policy.words(endpoint, current_app.config.get("TOCSIN_HISTORY_DAYS", 30)))


@bp.route("/alerts/endpoints/<int:endpoint_id>/edit", methods=["GET", "POST"])
@login_required
def edit_endpoint(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    form, preview = EditEndpointForm(obj=endpoint), None
    if request.method == "GET":
        form.headers.data = header_lines(endpoint.headers_encrypted or {})
    data = form.checked_data(endpoint)
    if data is not None:
        try:
            if form.preview.data:
                preview = service.preview(current_workspace_id(), data)
            else:
                changed = service.update_endpoint(endpoint, data, actor=_actor())
                db.session.commit()
                if changed.new_secret:
                    _show_secret_once(endpoint, changed.new_secret, "scheme")
                flash(f"Saved: changed {', '.join(changed)}." if changed else "Nothing changed.", "success")
                return _detail(endpoint)
        except InvalidEndpoint as error:
            show_errors(form, error.fields)
    return render_template("settings/endpoints/form.html", form=form, endpoint=endpoint, preview=preview)


@bp.route("/alerts/endpoints/<int:endpoint_id>/test", methods=["POST"])
@login_required
def test_endpoint(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    if ConfirmForm().validate_on_submit():
        delivery, result = service.send_test(endpoint, actor=_actor())
        session[TEST_OUTCOME] = {
            "endpoint_id": endpoint.id, "endpoint_name": endpoint.name, "delivery_id": delivery.id,
            "ok": result.outcome == "success", "outcome": result.outcome, "http_status": result.status,
            "duration_ms": result.duration_ms, "error": (result.error or "")[:500] or None,
            "response_excerpt": (result.response_excerpt or "")[:EXCERPT_CHARACTERS]}
    if request.args.get("back") == "list":
        return redirect(url_for("settings.endpoints"))
    return _detail(endpoint)


@bp.route("/alerts/endpoints/<int:endpoint_id>/reveal", methods=["POST"])
@login_required
def reveal_endpoint_secret(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    if ConfirmForm().validate_on_submit():
        try:
            secret = service.reveal_secret(endpoint, actor=_actor())
        except crypto.DecryptionError:
            flash(service.UNREADABLE_SECRET, "error")
            return _detail(endpoint)
        db.session.commit()
        _show_secret_once(endpoint, secret, "revealed")
    return _detail(endpoint)


@bp.route("/alerts/endpoints/<int:endpoint_id>/reveal-url", methods=["POST"])
@login_required
def reveal_endpoint_url(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    if ConfirmForm().validate_on_submit():
        try:
            url = service.reveal_url(endpoint, actor=_actor())
        except crypto.DecryptionError:
            flash(service.UNREADABLE_URL, "error")
            return _detail(endpoint)
        db.session.commit()
        keep_for_next_page(SHOWN_URL, {"endpoint_id": endpoint.id, "url": url})
    return _detail(endpoint)


@bp.route("/alerts/endpoints/<int:endpoint_id>/rotate", methods=["GET", "POST"])
@login_required
def rotate_endpoint_secret(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            secret = service.rotate_secret(endpoint, actor=_actor())
        except InvalidEndpoint as error:
            flash(error.fields["signature_scheme"], "error")
            return _detail(endpoint)
        db.session.commit()
        _show_secret_once(endpoint, secret, "rotated")
        flash("Secret rotated. For 24 hours every delivery is signed with both the new and the old secret."
              if signing.scheme(endpoint.signature_scheme).SEVERAL_SIGNATURES else
              "Secret rotated. Deliveries are signed with the new secret only, from now on.", "success")
        return _detail(endpoint)
    return render_template("settings/endpoints/confirm_rotate.html", endpoint=endpoint, form=form)


@bp.route("/alerts/endpoints/<int:endpoint_id>/<any(enable, disable):action>", methods=["POST"])
@login_required
def set_endpoint_active(endpoint_id: int, action: str):
    endpoint = get_or_404(Endpoint, endpoint_id)
    if ConfirmForm().validate_on_submit() and service.set_active(endpoint, action == "enable", actor=_actor()):
        db.session.commit()
        flash(f"Endpoint “{endpoint.name}” {action}d.", "success")
    return _detail(endpoint)


@bp.route("/alerts/endpoints/<int:endpoint_id>/delete", methods=["GET", "POST"])
@login_required
def delete_endpoint(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        rules = service.delete_endpoint(endpoint, actor=_actor())
        db.session.commit()
        flash(f"Endpoint “{endpoint.name}” deleted. Its delivery history stays readable.", "success")
        orphans = [rule.name for rule in rules if not rule.endpoints]
        if orphans:
            flash("These rules now have no endpoint and will not notify anyone until you add one: "
                  + ", ".join(f"“{name}”" for name in orphans) + ".", "warning")
        return redirect(url_for("settings.endpoints"))
    return render_template("settings/endpoints/confirm_delete.html", endpoint=endpoint, form=form,
                           rules=service.rules_using(endpoint))
