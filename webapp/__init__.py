"""Tocsin: a self-hosted alerting dashboard. `create_app` is the only way to build the app."""
import logging

from flask import Flask

from webapp import heartbeat_watch, proxy_headers, request_bodies, request_values, security
from webapp.config import PROJECT_ROOT, load_config
from webapp.extensions import csrf, db, login_manager, migrate
from webapp.sessions import CookieSessionOutsideApi
from webapp.version import __version__  # noqa: F401  (re-exported: webapp.__version__)


def create_app(config_overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.update(load_config())
    app.config.update(config_overrides or {})
    app.session_interface = CookieSessionOutsideApi()
    register_logging(app)
    security.init_app(app, overridden=frozenset(config_overrides or {}))
    request_bodies.init_app(app)  # first before-request function: bodies are read before anything else
    request_values.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_template_helpers(app)
    heartbeat_watch.init_app(app)
    proxy_headers.init_app(app)  # outermost: every part sees the client's address and scheme
    return app


def register_logging(app: Flask) -> None:
    """One handler, on the root logger: the app's logger is named `webapp` like the package, so
    Flask's own default handler would print every `webapp.*` record a second time."""
    from flask.logging import default_handler

    if app.config.get("TOCSIN_ENV") != "testing":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        app.logger.removeHandler(default_handler)


def register_extensions(app: Flask) -> None:
    from webapp import models  # noqa: F401  (register every table with the metadata)
    from webapp.database import configure_engine, engine_options, render_migration_item
    from webapp.database import init_app as init_database
    from webapp.services import api_cache
    from webapp.services.api_rate_limits import ApiRateLimits

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True,
                     compare_type=True, render_item=render_migration_item)
    login_manager.init_app(app)
    csrf.init_app(app)
    init_database(app)
    with app.app_context():
        configure_engine(db.engine)
    api_cache.init_app(app)
    app.extensions["tocsin_api_rate_limits"] = ApiRateLimits(app.config)


def register_blueprints(app: Flask) -> None:
    from webapp.blueprints.api import bp as api_bp
    from webapp.blueprints.auth import bp as auth_bp
    from webapp.blueprints.dashboard import bp as dashboard_bp
    from webapp.blueprints.settings import bp as settings_bp
    from webapp.blueprints.workspaces import bp as workspaces_bp
    from webapp.permissions import init_app as init_permissions

    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(workspaces_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    init_permissions(app)  # roles: one before-request hook for every page


def register_error_handlers(app: Flask) -> None:
    from webapp.errors import register

    register(app)


def register_commands(app: Flask) -> None:
    from webapp.commands import tocsin_cli

    app.cli.add_command(tocsin_cli)


def register_template_helpers(app: Flask) -> None:
    from webapp.blueprints.site_navigation import navigation_globals
    from webapp.templating import register

    register(app)
    app.context_processor(navigation_globals)
