// The monitoring dashboard (docs/dashboard.md). Every figure comes from the API with the user's
// token; the token lives in sessionStorage only (never in the URL, never in localStorage), and a
// 401 sends the user back to the sign-in field. Text from the API is set with textContent only.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import "./style.css";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

const TOKEN_KEY = "plm.dashboard.token";
const REFRESH_MS = 30_000;
// The report reads a month of CloudWatch series and tables: its panel refreshes less often.
const REPORT_REFRESH_MS = 300_000;
const HISTORY_HOURS = 24;
const CATEGORIES = ["bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback"];
const SEVERITIES = ["critical", "error", "warning", "info"];
const PAGE_LIMIT = 5; // pages followed per list, so one refresh stays bounded
const COLORS = {
  healthy: "rgba(34, 139, 34, 0.12)",
  warning: "rgba(230, 160, 0, 0.14)",
  critical: "rgba(220, 80, 0, 0.14)",
  emergency: "rgba(200, 0, 0, 0.14)",
};
const SERIES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const SEVERITY_COLORS = { critical: "#b00020", error: "#e4572e", warning: "#f2a541", info: "#4a90d9" };

const body = document.body;
// The API sits beside the page: /dashboard locally, /<stage>/dashboard behind API Gateway.
const BASE = location.pathname.replace(/\/dashboard\/?$/, "");
const bands = parseBands(body.dataset.bands);
const charts = {};
let timer = null;
let reportLoadedAt = 0;

class ApiError extends Error {
  constructor(status, message, correlationId, routeMissing = false) {
    super(message);
    this.status = status;
    this.correlationId = correlationId;
    // API Gateway (and chalice local) answer a path with no route 403 {"message": ...}, not our
    // {"error": ...} shape: that means "this API has no such route", not "your role may not".
    this.routeMissing = routeMissing;
  }
}

class SignedOut extends Error {}

function $(id) {
  return document.getElementById(id);
}

function parseBands(text) {
  try {
    const parsed = JSON.parse(text || "[]");
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  const url = `${BASE}${path}${query.toString() ? `?${query}` : ""}`;
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.status === 401) {
    throw new SignedOut(payload?.error?.message || "The token was refused.");
  }
  if (!response.ok) {
    const message = payload?.error?.message || payload?.message || `${response.status} ${response.statusText}`;
    const routeMissing = [403, 404].includes(response.status) && !payload?.error;
    throw new ApiError(response.status, message, response.headers.get("X-Correlation-Id"), routeMissing);
  }
  return payload;
}

async function pages(path, params) {
  const items = [];
  let cursor;
  for (let n = 0; n < PAGE_LIMIT; n += 1) {
    const page = await api(path, { ...params, cursor });
    items.push(...(page.items || page.points || []));
    cursor = page.nextCursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

// ---------------------------------------------------------------- small renderers

function setText(id, value) {
  $(id).textContent = value === null || value === undefined || value === "" ? "no data" : String(value);
  $(id).classList.toggle("nodata", value === null || value === undefined || value === "");
}

function note(id, text, kind = "") {
  const el = $(id);
  el.textContent = text || "";
  el.className = `note ${kind}`;
}

function panelState(panel, state) {
  $(panel).dataset.state = state;
}

function describeError(error) {
  if (error instanceof ApiError) {
    if (error.routeMissing) return "No data: this API does not offer this yet.";
    if (error.status === 403) return "Your token's role may not read this (engineer or admin needed).";
    const id = error.correlationId ? ` (correlation id ${error.correlationId})` : "";
    return `Could not load: ${error.message}${id}`;
  }
  return `Could not load: ${error.message}`;
}

function time(iso) {
  if (!iso) return null;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}

function number(value, digits = 0) {
  return typeof value === "number" ? value.toFixed(digits) : null;
}

function chart(id, config) {
  const existing = charts[id];
  if (existing) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update("none");
    return existing;
  }
  charts[id] = new Chart($(id), { ...config, plugins: config.plugins || [] });
  return charts[id];
}

// Shades the health bands behind the score line (thresholds from the API's own band table).
const bandsPlugin = {
  id: "healthBands",
  beforeDatasetsDraw(c) {
    const { ctx, chartArea, scales } = c;
    if (!chartArea || !scales.y) return;
    let top = 100;
    ctx.save();
    for (const [floor, name] of bands) {
      const yTop = scales.y.getPixelForValue(top);
      const yBottom = scales.y.getPixelForValue(floor);
      ctx.fillStyle = COLORS[name] || "rgba(0,0,0,0.05)";
      ctx.fillRect(chartArea.left, yTop, chartArea.right - chartArea.left, yBottom - yTop);
      ctx.fillStyle = "rgba(0,0,0,0.45)";
      ctx.font = "11px sans-serif";
      ctx.fillText(`${name} ≥ ${floor}`, chartArea.left + 4, yTop + 12);
      top = floor;
    }
    ctx.restore();
  },
};

// ---------------------------------------------------------------- panels

async function loadHealth() {
  const now = new Date();
  const start = new Date(now.getTime() - HISTORY_HOURS * 3600 * 1000);
  const [current, history] = await Promise.all([
    api("/api/monitoring/system-health"),
    pages("/api/monitoring/system-health/history", { start: start.toISOString(), limit: 1000 }),
  ]);
  setText("health-score", current.healthScore);
  setText("health-band", current.healthScore === null ? null : current.overallHealth);
  setText("health-at", time(current.evaluatedAt));
  $("panel-health").dataset.band = current.overallHealth || "";
  const notes = [];
  if (current.sufficientData === false) {
    const pct = number((current.completeness ?? 0) * 100);
    notes.push(`Too little data for a reliable score (${pct} % of its inputs were available).`);
  }
  const points = history.items.filter((p) => p.healthScore !== null && p.healthScore !== undefined);
  if (!points.length) notes.push(`No health evaluations stored in the last ${HISTORY_HOURS} hours.`);
  if (!history.complete) notes.push("The chart shows the first pages of the history only.");
  note("health-note", notes.join(" "), notes.length ? "warn" : "");
  chart("chart-health", {
    type: "line",
    data: {
      datasets: [
        {
          label: "Health score",
          data: history.items.map((p) => ({ x: Date.parse(p.at), y: p.healthScore })),
          borderColor: "#1f3b73",
          // A dense series reads as a line; a few points (a fresh stack) must still show.
          pointRadius: history.items.length > 60 ? 0 : 3,
          borderWidth: 2,
          spanGaps: false,
        },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: {
          type: "linear",
          min: start.getTime(),
          max: now.getTime(),
          ticks: { callback: (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) },
        },
        y: { min: 0, max: 100, title: { display: true, text: "score" } },
      },
      plugins: { legend: { display: false } },
    },
    plugins: [bandsPlugin],
  });
  panelState("panel-health", current.healthScore === null && !points.length ? "empty" : "ok");
}

async function loadFeedback() {
  const [summary, ...perCategory] = await Promise.all([
    api("/api/monitoring/feedback/summary"),
    ...CATEGORIES.map((category) => api("/api/monitoring/feedback/summary", { category })),
  ]);
  setText("feedback-total", summary.total);
  setText("feedback-critical", summary.openCritical);
  const satisfaction = summary.ratings?.satisfaction;
  setText(
    "feedback-satisfaction",
    satisfaction?.average === null || satisfaction?.average === undefined
      ? null
      : `${satisfaction.average.toFixed(2)} / 5 (${satisfaction.count})`,
  );
  const days = summary.volumePerDay.map((d) => d.date);
  note(
    "feedback-note",
    summary.total === 0 ? `No feedback in the last ${summary.window?.days ?? 30} days.` : "",
    summary.total === 0 ? "warn" : "",
  );
  chart("chart-feedback", {
    type: "bar",
    data: {
      labels: days.map((d) => d.slice(5)),
      datasets: CATEGORIES.map((category, n) => ({
        label: category.replace("_", " "),
        data: perCategory[n].volumePerDay.map((d) => d.count),
        backgroundColor: SERIES[n % SERIES.length],
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  });
  panelState("panel-feedback", summary.total === 0 ? "empty" : "ok");
}

async function loadKpis(force) {
  if (!force && Date.now() - reportLoadedAt < REPORT_REFRESH_MS) return;
  reportLoadedAt = Date.now();
  let report;
  try {
    report = await api("/api/monitoring/report");
  } catch (error) {
    if (error instanceof ApiError && (error.routeMissing || error.status === 404)) {
      $("kpis-table").hidden = true;
      note("kpis-note", "No data: this API has no report yet (GET /api/monitoring/report).", "warn");
      panelState("panel-kpis", "empty");
      return;
    }
    throw error;
  }
  const metrics = Array.isArray(report?.successMetrics) ? report.successMetrics : [];
  const rows = $("kpis-table").querySelector("tbody");
  rows.replaceChildren(
    ...metrics.map((m) => {
      const row = document.createElement("tr");
      const noData = m.value === null || m.value === undefined;
      const unit = m.unit ? ` ${m.unit}` : "";
      row.dataset.metric = m.name;
      const cells = [
        m.label || m.name,
        noData ? `no data${m.reason ? `: ${m.reason}` : ""}` : `${formatValue(m.value)}${unit}`,
        `${m.comparison ? `${m.comparison} ` : ""}${formatValue(m.target)}${unit}`,
        noData || m.met === null || m.met === undefined ? "–" : m.met ? "yes" : "no",
        m.source,
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text === null || text === undefined ? "–" : String(text);
        row.append(cell);
      }
      if (noData) row.className = "nodata";
      else if (m.met === false) row.className = "missed";
      return row;
    }),
  );
  $("kpis-table").hidden = metrics.length === 0;
  const status = report?.summary?.status;
  const period = report?.period ? ` for ${report.period.start} – ${report.period.end}` : "";
  note(
    "kpis-note",
    metrics.length ? `Overall status${period}: ${status || "unknown"}.` : "No data: the report holds no success metrics.",
    metrics.length ? "" : "warn",
  );
  const roi = report?.roi;
  if (roi && roi.annualROI !== null && roi.annualROI !== undefined) {
    const money = (v) => (v === null || v === undefined ? "–" : `${formatValue(v)} ${roi.currency || ""}`.trim());
    const total = roi.totalROI === null || roi.totalROI === undefined ? "no data" : `${formatValue(roi.totalROI)} %`;
    note(
      "kpis-roi",
      `ROI: monthly savings ${money(roi.monthlySavings)}, annual ROI ${formatValue(roi.annualROI)} %, total ROI ${total}.`,
    );
  } else if (roi) {
    const unset = Array.isArray(roi.unsetSettings) ? roi.unsetSettings.join(", ") : "";
    note("kpis-roi", `ROI: no data${unset ? ` until these are set: ${unset}` : ""}.`, "warn");
  } else {
    note("kpis-roi", "");
  }
  panelState("panel-kpis", metrics.length ? "ok" : "empty");
}

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

async function loadAlerts() {
  const active = await pages("/api/monitoring/alerts", { limit: 100 });
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  for (const alert of active.items) counts[alert.severity] = (counts[alert.severity] || 0) + 1;
  setText("alerts-active", active.complete ? active.items.length : `${active.items.length}+`);
  note("alerts-note", active.items.length ? "" : "No active alerts.", "");
  chart("chart-alerts", {
    type: "bar",
    data: {
      labels: Object.keys(counts),
      datasets: [
        {
          label: "Active alerts",
          data: Object.values(counts),
          backgroundColor: Object.keys(counts).map((s) => SEVERITY_COLORS[s] || "#888"),
        },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    },
  });
  const list = $("alerts-list");
  list.replaceChildren(
    ...active.items.slice(0, 5).map((alert) => {
      const item = document.createElement("li");
      item.textContent = `${alert.severity} · ${alert.summary || alert.rule} · ${alert.state} since ${time(alert.firstSeen) || "?"}`;
      return item;
    }),
  );
  panelState("panel-alerts", active.items.length ? "ok" : "empty");
}

async function loadRelease() {
  const page = await api("/api/releases", { limit: 1 });
  const release = page.items?.[0];
  const gatesList = $("release-gates");
  if (!release) {
    ["release-version", "release-status", "release-traffic"].forEach((id) => setText(id, null));
    note("release-note", "No release has been created yet.", "warn");
    gatesList.replaceChildren();
    chart("chart-release", rolloutConfig([], []));
    panelState("panel-release", "empty");
    return;
  }
  setText("release-version", release.version);
  setText("release-status", release.status);
  setText("release-traffic", `${release.trafficPercent ?? 0} %`);
  const production = [...(release.executions || [])].reverse().find((e) => e.environment === "production");
  const steps = production?.input?.steps;
  const envs = release.environments || {};
  const names = ["staging", "production"].filter((name) => envs[name]);
  const parts = names.map((name) => `${name}: ${envs[name].state || "pending"}`);
  parts.push(steps ? `steps ${steps.join(" → ")} %` : "steps: the stage's default (RELEASE_STEPS)");
  if (release.statusReason) parts.push(release.statusReason);
  note("release-note", parts.join(" · "));
  chart(
    "chart-release",
    rolloutConfig(
      names,
      names.map((name) => envs[name].trafficPercent ?? 0),
    ),
  );
  gatesList.replaceChildren(
    ...(release.gates || []).slice(-5).map((gate) => {
      const item = document.createElement("li");
      const step = typeof gate.step === "number" ? `${gate.step} %` : gate.step;
      const reason = gate.reason || (gate.reasons || []).join("; ");
      item.textContent = `gate ${[gate.environment, step].filter(Boolean).join(" ")}: ${gate.verdict} — ${reason}`;
      return item;
    }),
  );
  panelState("panel-release", "ok");
}

function rolloutConfig(labels, values) {
  return {
    type: "bar",
    data: {
      labels,
      datasets: [{ label: "Traffic on the new version (%)", data: values, backgroundColor: "#2e7d32" }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      indexAxis: "y",
      scales: { x: { min: 0, max: 100, title: { display: true, text: "% of traffic" } } },
      plugins: { legend: { display: false } },
    },
  };
}

// ---------------------------------------------------------------- refresh and sign-in

const PANELS = [
  ["panel-health", "health-note", loadHealth],
  ["panel-feedback", "feedback-note", loadFeedback],
  ["panel-kpis", "kpis-note", loadKpis],
  ["panel-alerts", "alerts-note", loadAlerts],
  ["panel-release", "release-note", loadRelease],
];

async function refresh(force = false) {
  clearTimeout(timer);
  body.dataset.loading = "true";
  const results = await Promise.allSettled(PANELS.map(([, , load]) => load(force)));
  const signedOut = results.find((r) => r.status === "rejected" && r.reason instanceof SignedOut);
  if (signedOut) {
    signOut("The API refused the token (expired or not valid here): sign in again.");
    return;
  }
  results.forEach((result, n) => {
    if (result.status === "rejected") {
      const [panel, noteId] = PANELS[n];
      note(noteId, describeError(result.reason), "error");
      panelState(panel, "error");
    }
  });
  $("refreshed").textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
  body.dataset.loading = "false";
  body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
  timer = setTimeout(() => refresh(), REFRESH_MS);
}

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate);
  try {
    const me = await api("/api/monitoring/whoami");
    $("who").textContent = `${me.sub} (${me.roles.join(", ")})`;
  } catch (error) {
    signOut(error instanceof SignedOut ? `Sign-in failed: ${error.message}` : describeError(error));
    return;
  }
  $("sign-in").hidden = true;
  $("panels").hidden = false;
  $("sign-out").hidden = false;
  $("refresh").hidden = false;
  $("sign-in-error").textContent = "";
  await refresh(true);
}

function signOut(message = "") {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  $("panels").hidden = true;
  $("sign-out").hidden = true;
  $("refresh").hidden = true;
  $("who").textContent = "";
  $("refreshed").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  body.dataset.loading = "false";
  $("token").focus();
}

function setUp() {
  const local = body.dataset.authMode === "hs256";
  $("token-label").textContent = local ? "Dev token" : "Bearer token";
  $("sign-in-help").textContent = local
    ? "Local stage: paste a dev token, e.g. from `post-launch-monitor dev-token --role engineer`."
    : "Paste an access or ID token issued by the identity provider (engineer or admin role).";
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim().replace(/^Bearer\s+/i, "");
    $("token").value = "";
    if (value) signIn(value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => refresh(true));
  const saved = token();
  if (saved) signIn(saved);
  else signOut();
}

setUp();
