"""The monitoring dashboard's static files: the page and the bundle web/ builds into
chalicelib/static/dashboard/ (docs/dashboard.md). They ship inside the Lambda bundle with the rest of
chalicelib/, so the page needs no CDN and no internet. The page itself is public; every figure on it
is fetched from the API with the user's token.

Assets are looked up by exact name among the files the build wrote, never by joining the requested
name onto a path, so no request can reach a file outside that directory.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chalicelib.config import Settings, get_settings
from chalicelib.errors import NotFound
from chalicelib.health.score import BANDS

STATIC_DIR = Path(__file__).resolve().parent / "static" / "dashboard"
PAGE = "index.html"
NOT_BUILT = (
    "The dashboard is not built in this deployment: `make run`, `make test` and `make package` build "
    "it (or `npm ci && npm run build` in web/)."
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

# Everything the page loads comes from this API: its own script and stylesheet, and fetch() calls to
# the routes beside it. No inline script or style, no frames, no form posts, no other origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_SAFE_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    cache_control: str


@lru_cache(maxsize=4)
def _files(directory: Path) -> dict[str, Path]:
    """The servable files the build wrote, by name (read once per container: the bundle is immutable)."""
    if not directory.is_dir():
        return {}
    return {
        path.name: path
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix in CONTENT_TYPES
    }


def asset(name: str, directory: Path = STATIC_DIR) -> Asset:
    """One built file by exact name; NotFound for anything else (the page has its own route)."""
    files = _files(directory)
    if not files:
        raise NotFound(NOT_BUILT)
    path = files.get(name)
    if path is None or name == PAGE:
        raise NotFound(f"No dashboard asset named {name[:100]!r}.")
    # no-cache, not a long max-age: the names are fixed, so a new build must be revalidated.
    return Asset(path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix], "no-cache")


def page(settings: Settings | None = None, directory: Path = STATIC_DIR) -> Asset:
    """The dashboard page, told how this stage signs in and where the health bands lie."""
    settings = settings or get_settings()
    path = _files(directory).get(PAGE)
    if path is None:
        raise NotFound(NOT_BUILT)
    values = {
        "{{AUTH_MODE}}": settings.auth_mode,
        "{{STAGE}}": settings.stage,
        "{{BANDS}}": json.dumps([[floor, name] for floor, name in BANDS]),
    }
    text = path.read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, html.escape(value, quote=True))
    return Asset(text, CONTENT_TYPES[".html"], "no-store")


def dashboard_location(request_path: str | None) -> str:
    """Where `/` sends a browser: the dashboard beside the path it asked for, so the API Gateway stage
    (`/api/`) or a custom domain's base path is kept. Anything unexpected falls back to /dashboard
    (a path such as `//host` must never become a redirect to another site)."""
    path = request_path or "/"
    if not _SAFE_PREFIX.fullmatch(path) or path.startswith("//"):
        return "/dashboard"
    return path.rstrip("/") + "/dashboard"
