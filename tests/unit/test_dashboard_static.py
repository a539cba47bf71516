"""The dashboard's static files: exact-name lookup (no path ever joined from a request), the page
told the stage's sign-in and the health bands, and where `/` sends a browser."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib import dashboard
from chalicelib.config import Settings
from chalicelib.errors import NotFound
from chalicelib.health.score import BANDS


@pytest.fixture
def built(tmp_path):
    """A build output as web/build.mjs writes it, plus files that must never be served."""
    out = tmp_path / "static" / "dashboard"
    out.mkdir(parents=True)
    (out / "index.html").write_text(
        '<body data-auth-mode="{{AUTH_MODE}}" data-stage="{{STAGE}}" data-bands="{{BANDS}}"></body>'
    )
    (out / "app.js").write_text("console.log(1)")
    (out / "app.css").write_text("body{}")
    (out / ".hidden.js").write_text("secret")
    (out / "notes.py").write_text("print('no')")
    (tmp_path / "static" / "outside.js").write_text("outside")
    dashboard._files.cache_clear()
    yield out
    dashboard._files.cache_clear()


def test_assets_are_served_by_exact_name_with_their_content_type(built):
    # When the script and the stylesheet are asked for
    script, style = dashboard.asset("app.js", built), dashboard.asset("app.css", built)

    # Then each comes with its text content type and must be revalidated
    assert (script.body, script.content_type, script.cache_control) == (
        "console.log(1)",
        "text/javascript; charset=utf-8",
        "no-cache",
    )
    assert style.content_type == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "name",
    ["missing.js", "../outside.js", "..%2Foutside.js", "/etc/passwd", ".hidden.js", "notes.py", "index.html"],
)
def test_anything_but_a_built_asset_is_not_found(built, name):
    # When a name that is not one of the built assets is asked for, Then it is NotFound
    with pytest.raises(NotFound):
        dashboard.asset(name, built)


def test_a_missing_build_says_how_to_build_it(tmp_path):
    dashboard._files.cache_clear()
    with pytest.raises(NotFound, match="make run"):
        dashboard.page(Settings(), tmp_path / "nothing")
    with pytest.raises(NotFound, match="make run"):
        dashboard.asset("app.js", tmp_path / "nothing")


def test_the_page_carries_the_sign_in_mode_and_the_bands_escaped(built):
    # When the page is rendered for the local stage
    page = dashboard.page(Settings(), built)

    # Then the placeholders are filled, the JSON attribute-escaped, and the page never cached
    assert page.content_type == "text/html; charset=utf-8" and page.cache_control == "no-store"
    assert 'data-auth-mode="hs256"' in page.body and 'data-stage="local"' in page.body
    escaped = re.search(r'data-bands="([^"]*)"', page.body).group(1)
    assert "&quot;healthy&quot;" in escaped
    assert json.loads(escaped.replace("&quot;", '"')) == [[floor, name] for floor, name in BANDS]
    assert "{{" not in page.body


def test_the_policy_allows_only_this_origin():
    policy = dict(part.split(" ", 1) for part in dashboard.CONTENT_SECURITY_POLICY.split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'none'"
    assert "unsafe-inline" not in dashboard.CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path, location",
    [
        ("/", "/dashboard"),
        (None, "/dashboard"),
        ("/api/", "/api/dashboard"),  # API Gateway's stage is kept
        ("/api", "/api/dashboard"),
        ("/monitor/api/", "/monitor/api/dashboard"),
        ("//evil.example/", "/dashboard"),  # never a redirect to another site
        ("/a b/", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
    ],
)
def test_the_root_sends_a_browser_to_the_dashboard_beside_it(path, location):
    assert dashboard.dashboard_location(path) == location
