"""Where a page may send the browser next (a `next` target is followed only to a path on this
site, so a crafted link cannot bounce a signed-in user to another host), and which page of a
list it asks for."""
from urllib.parse import urlsplit

from flask import request

from webapp import validators

MAX_PAGE = 1_000_000  # far past any list's end (which shows an empty page), far below an overflow


def safe_next(target: str | None, fallback: str, *, under: str = "/") -> str:
    """`target` when it is a path on this site starting with `under`, else `fallback`.

    Browsers read `/\\host` as `//host` and drop tabs and newlines, so those are refused too.
    """
    if (target and target.startswith("/") and target.startswith(under) and not target.startswith("//")
            and "\\" not in target and not any(ord(char) < 32 or ord(char) == 127 for char in target)
            and not urlsplit(target).netloc):
        return target
    return fallback


def page_number() -> int:
    """`?page=` of a paged list: 1 unless it is a number from 1 to MAX_PAGE in ASCII digits."""
    try:
        return validators.whole_number(request.args.get("page", "1"), minimum=1, maximum=MAX_PAGE)
    except ValueError:
        return 1


def row_id_argument(name: str) -> int | None:
    """A row id in the query string (a keyset page's `before`/`after`), or None when it is not one."""
    raw = request.args.get(name, "").strip()
    return int(raw) if validators.is_id(raw) else None
