"""The dashboard's routes over HTTP (chalice local): `/` redirects a browser to `/dashboard`, the page
and its bundle come with their content types and a strict Content-Security-Policy and need no token,
unknown names are 404 and no request reaches a file outside the build."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.dashboard_helpers import STATIC, build_dashboard


@pytest.fixture(scope="module", autouse=True)
def built():
    build_dashboard()


def raw_get(stack, path: str) -> tuple[int, dict[str, str], str]:
    """GET with the path exactly as written (requests would normalise `..` away)."""
    url = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        connection.close()


def test_the_root_redirects_a_browser_to_the_dashboard(stack):
    # When a browser opens the API's root
    response = stack.client().get("/", allow_redirects=False)

    # Then it is sent to the dashboard (not "Missing Authentication Token")
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/dashboard"
    followed = stack.client().get("/")
    assert followed.status_code == 200 and followed.url.endswith("/dashboard")


def test_the_page_needs_no_token_and_comes_with_a_strict_policy(stack):
    # When the page is fetched without a token
    response = stack.client().get("/dashboard")

    # Then it is HTML, told the local stage signs in with dev tokens, never cached
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'data-auth-mode="hs256"' in response.text and "{{" not in response.text
    # and loads only its own script and stylesheet, beside it
    assert 'src="dashboard/app.js"' in response.text and 'href="dashboard/app.css"' in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy and "http" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "name, content_type",
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_the_bundle_is_served_as_built(stack, name, content_type):
    response = stack.client().get(f"/dashboard/{name}")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.text == (STATIC / name).read_text()


def test_the_bundle_needs_no_cdn(stack):
    # The page works with no internet: nothing in the bundle is fetched from another host
    script = stack.client().get("/dashboard/app.js").text
    assert "cdn." not in script and "unpkg" not in script and "googleapis" not in script


@pytest.mark.parametrize("name", ["nothing.js", "index.html", "main.js", "app.py", "config.py"])
def test_an_unknown_asset_is_404(stack, name):
    response = stack.client().get(f"/dashboard/{name}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/..%2F..%2Fapp.py",
        "/dashboard/%2e%2e%2fdashboard.py",
        "/dashboard/..%2Fconfig.py",
        "/dashboard/../app.py",
        "/dashboard/..%5C..%5Capp.py",
        "/dashboard/%2Fetc%2Fpasswd",
    ],
)
def test_no_request_reaches_a_file_outside_the_build(stack, path):
    # When a path tries to climb out of the build directory
    status, _headers, body = raw_get(stack, path)

    # Then nothing is served (404 from us, or the router's own refusal), and no source leaks
    assert status in (403, 404), (status, body)
    assert "import" not in body and "root:" not in body
