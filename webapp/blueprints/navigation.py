"""Where a page may send the browser next: a `next` target is followed only to a path on this
site, so a crafted link cannot bounce a signed-in user to another host."""
from urllib.parse import urlsplit


def safe_next(target: str | None, fallback: str, *, under: str = "/") -> str:
    """`target` when it is a path on this site starting with `under`, else `fallback`.

    Browsers read `/\\host` as `//host` and drop tabs and newlines, so those are refused too.
    """
    if (target and target.startswith("/") and target.startswith(under) and not target.startswith("//")
            and "\\" not in target and not any(ord(char) < 32 or ord(char) == 127 for char in target)
            and not urlsplit(target).netloc):
        return target
    return fallback
