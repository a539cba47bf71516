"""The dashboard in a real browser: headless Chromium from Debian's packages (/usr/bin/chromium,
installed here with apt-get when missing), driven by Playwright, never a browser of its own.

Signs in with a dev token as a person would, waits for the panels to fill from the API, checks the
figures shown against what the API answers for the data this test loaded, that every chart drew on
its canvas, that the page broke no Content-Security-Policy rule, and saves a screenshot. A second
test starts the dev stack with DEMO=1 (what `DEMO=1 make run` runs) and checks the page is populated.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition
from tests.dashboard_helpers import build_dashboard
from tests.integration.test_health_api import health_env  # noqa: F401 - a fixture used below
from tests.release_helpers import fixed_issue, fresh_version, make_target, publish_build

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CANVASES = ("chart-health", "chart-feedback", "chart-alerts", "chart-release")
ARTIFACTS = os.environ.get("PLM_ARTIFACTS_DIR")  # also keep the screenshots there when set (CI)


def install_chromium() -> None:
    """Debian's chromium, as the project's machines get it (root, apt-get; no browser download)."""
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("the browser test needs /usr/bin/chromium and apt-get to install it (Debian's chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    assert CHROMIUM.exists(), "apt-get install chromium did not provide /usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    install_chromium()
    build_dashboard()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose console errors, CSP violations and uncaught exceptions are kept for the asserts."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1500})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        # An answered request with an error status (the report route before it exists) is the
        # page's to show, not a problem; CSP refusals ("Refused to ...") and script errors are.
        self.page.on(
            "console",
            lambda m: (
                m.type == "error"
                and not m.text.startswith("Failed to load resource")
                and self.problems.append(m.text)
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))

    def close(self) -> None:
        self.context.close()


def sign_in(page, token: str, refreshes: int = 1, timeout_ms: int = 60_000) -> None:
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector(f'body[data-refreshes="{refreshes}"]', timeout=timeout_ms)


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def drawn_pixels(page, canvas_id: str) -> int:
    """Pixels the chart painted (alpha > 0) on its canvas: 0 for a chart that never drew."""
    return page.evaluate(
        """(id) => {
            const canvas = document.getElementById(id);
            if (!canvas || !canvas.width || !canvas.height) return 0;
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
            return painted;
        }""",
        canvas_id,
    )


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ARTIFACTS) / name)
    assert path.stat().st_size > 10_000
    return path


def all_pages(api, path: str, **params) -> list[dict]:
    items, cursor = [], None
    for _ in range(5):
        body = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        items += body["items"]
        cursor = body.get("nextCursor")
        if not cursor:
            break
    return items


@pytest.fixture
def loaded(stack, workspace, health_env) -> dict:  # noqa: F811 - health_env is the imported fixture
    """Data for every panel, loaded through the API and the services as production would write it.
    The metrics go under an API name and namespace of this test's own (health_env), so later tests of
    the session that expect no API traffic in the last 30 days still see none."""
    from app import evaluate_health
    from postlaunch.devstack import LambdaContext
    from tests.integration.test_health_api import put_scenario, scheduled_event

    staff = stack.client("staff", workspace)
    for category, rating in (("bug_report", 2), ("bug_report", 3), ("feature_request", 4)):
        created = staff.post(
            "/api/monitoring/feedback",
            json={
                "category": category,
                "severity": "high",
                "title": f"Dashboard test {category}",
                "description": "Reminders arrive late for the afternoon appointments.",
                "featureArea": "reminders",
                "satisfactionRating": rating,
            },
        )
        assert created.status_code == 201, created.text
    # a health evaluation, as the scheduled Lambda runs it, over metrics put in CloudWatch
    now = datetime.now(UTC)
    put_scenario(stack.aws_client("cloudwatch"), health_env, now)
    health = evaluate_health(scheduled_event(now), LambdaContext("post-launch-monitor-evaluate_health"))
    # a critical alert of a rule of its own
    rule = f"DashboardTest{workspace[3:]}"
    engine.fire(
        Condition(rule=rule, severity="critical", summary=f"{rule} over threshold", value=12.0, threshold=1),
        settings=stack.settings(),
    )
    # and a planned release
    target = make_target(stack)
    version = fresh_version()
    created = stack.client("admin").post(
        "/api/releases",
        json={
            "version": version,
            "issues": [fixed_issue("reminders")],
            "targets": [target],
            "functionVersion": publish_build(stack, target),
        },
    )
    assert created.status_code == 201, created.text
    return {"health": health, "alert": f"{rule} over threshold", "version": version}


def test_sign_in_fills_every_panel_from_the_api_and_draws_the_charts(stack, browser, loaded, tmp_path):
    engineer = stack.client("engineer")
    watched = Watched(browser)
    page = watched.page
    try:
        # Given a browser opening the API's root: it lands on the dashboard's sign-in
        page.goto(stack.api_url + "/")
        assert page.url == stack.api_url + "/dashboard"
        assert text(page, "#token-label") == "Dev token"

        # When a person signs in with an engineer's dev token
        token = stack.token("engineer")
        sign_in(page, token)

        # Then the token is kept for the tab only, never in the URL
        assert token not in page.url
        assert page.evaluate("sessionStorage.getItem('plm.dashboard.token')") == token
        assert page.evaluate("localStorage.length") == 0
        assert "dev-engineer" in text(page, "#who")

        # and System Health shows the API's current score and band
        health = engineer.get("/api/monitoring/system-health").json()
        assert health["healthScore"] == loaded["health"]["healthScore"]
        assert text(page, "#health-score") == str(health["healthScore"])
        assert text(page, "#health-band") == health["overallHealth"]

        # and User Feedback the API's totals (the three items loaded are in them)
        summary = engineer.get("/api/monitoring/feedback/summary").json()
        assert summary["byCategory"]["bug_report"] >= 2 and summary["byCategory"]["feature_request"] >= 1
        assert text(page, "#feedback-total") == str(summary["total"])
        assert text(page, "#feedback-critical") == str(summary["openCritical"])

        # and Alerts every active alert, the loaded critical one listed among the newest
        active = all_pages(engineer, "/api/monitoring/alerts", limit=100)
        assert text(page, "#alerts-active") == str(len(active))
        assert loaded["alert"] in text(page, "#alerts-list")

        # and the release panel the newest release: the one created above, planned, at 0 %
        newest = engineer.get("/api/releases", params={"limit": 1}).json()["items"][0]
        assert newest["version"] == loaded["version"]
        assert text(page, "#release-version") == loaded["version"]
        assert text(page, "#release-status") == "planned"
        assert text(page, "#release-traffic") == "0 %"

        # and Success Metrics the report's metrics, each on its row: "no data" and the reason when its
        # value is null, else its value and source
        report = engineer.get("/api/monitoring/report")
        assert report.status_code == 200, report.text
        rows = page.locator("#kpis-table tbody tr")
        assert rows.count() == len(report.json()["successMetrics"])
        for metric in report.json()["successMetrics"]:
            row = text(page, f"#kpis-table tr[data-metric='{metric['name']}']")
            if metric["value"] is None:
                assert "no data" in row and metric["reason"] in row, row
            else:
                assert metric["source"] in row, row
        # and the ROI plainly without data, naming the settings it waits for (none set in this stack)
        roi = text(page, "#kpis-roi")
        assert roi.startswith("ROI: no data") and "REPORT_ROI_HOURLY_RATE" in roi, roi

        # and every chart drew, no panel failed, and the page broke no CSP rule
        for canvas in CANVASES:
            assert drawn_pixels(page, canvas) > 500, canvas
        states = page.eval_on_selector_all("section.panel", "els => els.map(e => [e.id, e.dataset.state])")
        assert not [s for s in states if s[1] == "error"], states
        assert watched.problems == [], watched.problems
        shot = screenshot(page, tmp_path, "dashboard.png")
        print(f"dashboard screenshot: {shot}")

        # When the token stops being accepted (here: replaced by a forged one) and the page refreshes
        page.evaluate("sessionStorage.setItem('plm.dashboard.token', 'not-a-token')")
        page.click("#refresh")

        # Then the person is asked to sign in again, and the refused token is gone
        page.wait_for_selector("#sign-in:not([hidden])")
        assert "sign in again" in text(page, "#sign-in-error")
        assert page.evaluate("sessionStorage.getItem('plm.dashboard.token')") is None
        assert page.locator("#panels").is_hidden()
    finally:
        watched.close()


def test_a_role_without_access_is_told_so_in_each_panel(stack, browser, workspace):
    # Given a staff member (no engineer role) signing in
    watched = Watched(browser)
    try:
        watched.page.goto(stack.api_url + "/dashboard")
        sign_in(watched.page, stack.token("staff", workspace))

        # Then the panels that need an engineer say so plainly instead of showing figures
        for panel in ("health", "alerts", "release"):
            assert "engineer or admin needed" in text(watched.page, f"#{panel}-note"), panel
            assert watched.page.get_attribute(f"#panel-{panel}", "data-state") == "error"
        # while their own feedback view fills
        assert watched.page.get_attribute("#panel-feedback", "data-state") in ("ok", "empty")
    finally:
        watched.close()


def test_with_demo_data_loaded_the_dashboard_is_populated(browser, tmp_path):
    from tests.integration.test_devstack import DevStackProcess

    # Given the dev stack started as `DEMO=1 make run` starts it
    devstack = DevStackProcess({"DEMO": "1"})
    watched = Watched(browser)
    try:
        dashboard_url = devstack.wait_for(r"Dashboard: (http://\S+)", timeout=420).group(1)
        token = re.search(r'Authorization: Bearer (\S+)"', devstack.output).group(1)
        page = watched.page

        # When a person opens the printed dashboard URL and signs in with the printed token
        page.goto(dashboard_url)
        sign_in(page, token, timeout_ms=120_000)

        # Then health, feedback and alerts are populated from the demo month
        assert re.fullmatch(r"\d+", text(page, "#health-score")), text(page, "#health-score")
        assert int(text(page, "#feedback-total")) > 150
        assert re.fullmatch(r"[\d.]+ / 5 \(\d+\)", text(page, "#feedback-satisfaction"))
        for panel in ("health", "feedback"):
            assert page.get_attribute(f"#panel-{panel}", "data-state") == "ok", panel
        assert page.get_attribute("#panel-alerts", "data-state") in ("ok", "empty")
        # and Success Metrics & KPIs has figures: the engagement change against the demo's assumed
        # baseline, and the ROI over the demo's assumed inputs
        page.wait_for_selector("#kpis-table tr[data-metric='patientEngagementChange']")
        engagement = text(page, "#kpis-table tr[data-metric='patientEngagementChange']")
        assert "no data" not in engagement and re.search(r"-?\d", engagement), engagement
        assert re.search(r"annual ROI -?[\d.]+ %", text(page, "#kpis-roi")), text(page, "#kpis-roi")
        for canvas in ("chart-health", "chart-feedback", "chart-alerts"):
            assert drawn_pixels(page, canvas) > 500, canvas
        states = page.eval_on_selector_all("section.panel", "els => els.map(e => [e.id, e.dataset.state])")
        assert not [s for s in states if s[1] == "error"], states
        assert watched.problems == [], watched.problems
        print(f"demo dashboard screenshot: {screenshot(page, tmp_path, 'dashboard-demo.png')}")
    finally:
        watched.close()
        try:
            assert devstack.stop() == 0
        finally:
            devstack.kill()
