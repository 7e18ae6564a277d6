"""The dashboard's navigation: Overview, Jobs, Alerts and Settings, Settings' own pages, and the
tabs of its Alerts section (Endpoints, Rules, Delivery history).

Which entry is current follows from the path of the page's route, so a new page under
`/settings/alerts/rules/...` is marked without being listed here."""
from dataclasses import dataclass

from flask import has_request_context, request


@dataclass(frozen=True)
class NavigationEntry:
    label: str
    endpoint: str  # the Flask endpoint the entry links to
    prefix: str    # the route paths it covers


SECTIONS = (
    NavigationEntry("Overview", "dashboard.overview", "/overview"),
    NavigationEntry("Jobs", "dashboard.jobs", "/jobs"),
    NavigationEntry("Alerts", "dashboard.alerts", "/alerts"),
    NavigationEntry("Settings", "settings.index", "/settings"),
)
SETTINGS_PAGES = (
    NavigationEntry("Alerts", "settings.alerts", "/settings/alerts"),
    NavigationEntry("Silences", "settings.silences", "/settings/silences"),
    NavigationEntry("API keys", "settings.api_keys", "/settings/api-keys"),
    NavigationEntry("Members", "settings.members", "/settings/members"),
    NavigationEntry("Invites", "settings.invites_page", "/settings/invites"),
    NavigationEntry("Audit log", "settings.audit_log", "/settings/audit-log"),
    NavigationEntry("Account", "settings.account", "/settings/account"),
)
ALERTS_TABS = (
    NavigationEntry("Endpoints", "settings.endpoints", "/settings/alerts/endpoints"),
    NavigationEntry("Rules", "settings.rules", "/settings/alerts/rules"),
    NavigationEntry("Delivery history", "settings.deliveries", "/settings/alerts/deliveries"),
)


def _covers(entry: NavigationEntry, path: str) -> bool:
    return path == entry.prefix or path.startswith(entry.prefix + "/")


def _current(entries: tuple[NavigationEntry, ...], path: str) -> NavigationEntry | None:
    return next((entry for entry in entries if _covers(entry, path)), None)


@dataclass(frozen=True)
class Place:
    """Where the current page sits: its section, its Settings page and its Alerts tab (or None)."""

    section: NavigationEntry | None
    settings_page: NavigationEntry | None
    alerts_tab: NavigationEntry | None


def current_place() -> Place:
    rule = request.url_rule.rule if has_request_context() and request.url_rule else ""
    if rule == "/":
        rule = "/overview"
    return Place(_current(SECTIONS, rule), _current(SETTINGS_PAGES, rule), _current(ALERTS_TABS, rule))


def navigation_globals() -> dict:
    """What base.html needs to draw the navigation."""
    return {"nav_sections": SECTIONS, "nav_settings_pages": SETTINGS_PAGES,
            "nav_alerts_tabs": ALERTS_TABS, "nav_place": current_place}
