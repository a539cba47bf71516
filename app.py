"""Routes and scheduled handlers only; each is a few lines over chalicelib.

Every Lambda function of the app imports this module on its cold start, so it imports only what the
liveness probe needs; each route and handler imports its services and request models on first use
(chalicelib.lazy; README, "Cold start").
"""

from chalice import Chalice, Cron, Rate, Response

from chalicelib.auth import Role
from chalicelib.config import get_settings
from chalicelib.errors import DomainError
from chalicelib.lazy import lazy
from chalicelib.web import Api, Call, error_response, json_response

alarms = lazy("chalicelib.alerts.alarms")
alert_rules = lazy("chalicelib.alerts.rules")
alerts = lazy("chalicelib.alerts.service")
dashboard = lazy("chalicelib.dashboard")
delivery = lazy("chalicelib.alerts.delivery")
feedback = lazy("chalicelib.feedback.service")
health = lazy("chalicelib.health.service")
ingest = lazy("chalicelib.health.ingest")
issues = lazy("chalicelib.issues.service")
phase2 = lazy("chalicelib.phase2.service")
release_worker_steps = lazy("chalicelib.releases.worker")
releases = lazy("chalicelib.releases.service")
report_delivery = lazy("chalicelib.reports.delivery")
reports = lazy("chalicelib.reports.report")
slo = lazy("chalicelib.health.slo")
# The request models of each route.
alert_schemas = lazy("chalicelib.schemas.alerts")
feedback_schemas = lazy("chalicelib.schemas.feedback")
health_schemas = lazy("chalicelib.schemas.health")
issue_schemas = lazy("chalicelib.schemas.issues")
metric_schemas = lazy("chalicelib.schemas.metrics")
phase2_schemas = lazy("chalicelib.schemas.phase2")
release_schemas = lazy("chalicelib.schemas.releases")
report_schemas = lazy("chalicelib.schemas.reports")

app = Chalice(app_name="post-launch-monitor")
api = Api(app)
api.install_middleware()


@app.route("/api/monitoring/ping", methods=["GET"])
def ping():
    """Liveness probe: the only route without a token."""
    return {"status": "ok"}


@app.route("/api/monitoring/whoami", methods=["GET"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN, Role.INGEST)
def whoami(call: Call):
    """Who the token says the caller is: lets a client check its token and roles."""
    return call.principal.describe()


FEEDBACK = "/api/monitoring/feedback"


def _item_headers(record: dict, replayed: bool | None = None) -> dict:
    headers = {"ETag": feedback.etag(record)}
    if replayed is not None:
        headers |= {"Location": f"{FEEDBACK}/{record['id']}", "Idempotent-Replayed": str(replayed).lower()}
    return headers


@app.route(FEEDBACK, methods=["POST"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN)
def submit_feedback(call: Call):
    """Submit feedback; 201 with the stored (redacted) record. Idempotency-Key makes retries safe."""
    body, key = call.body(feedback_schemas.FeedbackCreate), call.header("Idempotency-Key")
    record, replayed = feedback.submit_feedback(call.principal, body, key, settings=call.settings)
    return json_response(record, 201, _item_headers(record, replayed))


@app.route(FEEDBACK, methods=["GET"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN)
def list_feedback(call: Call):
    """Feedback newest first, filtered, cursor-paginated; staff see their own workspace."""
    return feedback.list_feedback(
        call.principal, call.params(feedback_schemas.FeedbackListQuery), settings=call.settings
    )


@app.route(FEEDBACK + "/summary", methods=["GET"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN)
def feedback_summary(call: Call):
    """Volume, distributions, ratings and their trend, resolution times over a date window."""
    query = call.params(feedback_schemas.FeedbackSummaryQuery)
    return feedback.feedback_summary(call.principal, query, settings=call.settings)


@app.route(FEEDBACK + "/{feedback_id}", methods=["GET"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN)
def get_feedback(call: Call, feedback_id: str):
    record = feedback.get_feedback(call.principal, feedback_id, settings=call.settings)
    return json_response(record, 200, _item_headers(record))


@app.route(FEEDBACK + "/{feedback_id}", methods=["PATCH"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def update_feedback(call: Call, feedback_id: str):
    """Triage: status, assignee, resolution. If-Match (or body version) guards against lost updates."""
    change, if_match = call.body(feedback_schemas.FeedbackUpdate), call.header("If-Match")
    record = feedback.update_feedback(call.principal, feedback_id, change, if_match, settings=call.settings)
    return json_response(record, 200, _item_headers(record))


@app.schedule(Rate(5, unit=Rate.MINUTES), name="retry_feedback_notifications")
def retry_feedback_notifications(event):
    """Publish the critical-feedback alerts whose first publish failed."""
    return feedback.retry_pending_notifications()


HEALTH = "/api/monitoring/system-health"


@app.route(HEALTH, methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def system_health(call: Call):
    """Score, band, deductions and inputs; from the latest snapshot while fresh (?refresh=true: anew)."""
    query = call.params(health_schemas.HealthQuery)
    return health.current_health(verbose=query.verbose, refresh=query.refresh, settings=call.settings)


@app.route(HEALTH + "/history", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def system_health_history(call: Call):
    """The stored health series between ?start= and ?end= (default: the last 24 h), paginated."""
    return health.health_history(call.params(health_schemas.HistoryQuery), settings=call.settings)


@app.route(HEALTH + "/slo", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def system_health_slo(call: Call):
    """30-day uptime, availability and latency SLOs: error budget left, multi-window burn rates."""
    call.params(health_schemas.SloQuery)
    return slo.slo_report(settings=call.settings)


@app.route("/api/monitoring/metrics", methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN, Role.INGEST)
def ingest_metrics(call: Call):
    """Patient Engagement metrics from a producer outside AWS, written to CloudWatch."""
    batch, key = call.body(metric_schemas.MetricsBatch), call.header("Idempotency-Key")
    result, replayed = ingest.ingest_metrics(
        batch, call.principal, idempotency_key=key, settings=call.settings
    )
    return json_response(result, 200, {"Idempotent-Replayed": str(replayed).lower()})


# HEALTH_SCHEDULE_MINUTES is read when this module is imported: `chalice package`/`deploy` bake it
# into the EventBridge rule (docs/health.md, "Schedule").
@app.schedule(Rate(get_settings().health_schedule_minutes, unit=Rate.MINUTES), name="evaluate_health")
def evaluate_health(event):
    """Evaluate health, store the snapshot, publish HealthScore to CloudWatch."""
    return health.run_scheduled_evaluation()


# ---- alerts: core
# ALERT_SCHEDULE_MINUTES is read at import, like HEALTH_SCHEDULE_MINUTES (docs/alerts.md, "Rules").
@app.schedule(Rate(get_settings().alert_schedule_minutes, unit=Rate.MINUTES), name="evaluate_alerts")
def evaluate_alerts(event):
    """Judge every alert rule, record what fires, resolve what cleared, escalate what is overdue."""
    return alert_rules.run()


# ---- alerts: api
ALERTS = "/api/monitoring/alerts"
SILENCES = "/api/monitoring/silences"


@app.route(ALERTS, methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def list_alerts(call: Call):
    """Alerts newest first: active ones by default (?state=all for every state), filtered, paginated."""
    return alerts.list_alerts(call.params(alert_schemas.AlertListQuery), settings=call.settings)


@app.route(ALERTS + "/{alert_id}", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def get_alert(call: Call, alert_id: str):
    return alerts.get_alert(alert_id, settings=call.settings)


@app.route(ALERTS + "/{alert_id}/acknowledge", methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def acknowledge_alert(call: Call, alert_id: str):
    """firing -> acknowledged: stops the escalation clock."""
    return alerts.acknowledge(alert_id, call.principal.sub, settings=call.settings)


@app.route(ALERTS + "/{alert_id}/resolve", methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def resolve_alert(call: Call, alert_id: str):
    """Resolve by hand, with a reason."""
    return alerts.resolve(
        alert_id, call.principal.sub, call.body(alert_schemas.AlertResolve), settings=call.settings
    )


@app.route(SILENCES, methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def list_silences(call: Call):
    """The silences in force (?state=all: every silence, newest first, paginated)."""
    return alerts.list_silences(call.params(alert_schemas.SilenceListQuery), settings=call.settings)


@app.route(SILENCES, methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def create_silence(call: Call):
    """Stop notifications for the alerts the matchers select, until endsAt or until an alert resolves."""
    record = alerts.create_silence(
        call.body(alert_schemas.SilenceCreate), call.principal.sub, settings=call.settings
    )
    return json_response(record, 201, {"Location": f"{SILENCES}/{record['id']}"})


@app.route(SILENCES + "/{silence_id}", methods=["DELETE"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def expire_silence(call: Call, silence_id: str):
    """Expire a silence now (it stays listed under ?state=all, with expiredAt and expiredBy)."""
    return alerts.expire_silence(silence_id, call.principal.sub, settings=call.settings)


# ---- alerts: delivery
# Chalice subscribes one function to one topic, so each severity route has its own Slack notifier.
# The topic names are read when this module is imported: `chalice package` puts each into the
# subscription's Fn::Sub ARN, where ${AWS::StackName} resolves to the TopicName infra/template.json
# gives the topic (docs/alerts.md, "Routing and delivery").
_TOPICS = get_settings()


@app.on_sns_message(topic=_TOPICS.alerts_paging_topic, name="notify_slack_paging")
def notify_slack_paging(event):
    """Post a critical/error alert group to Slack; each attempt is recorded on its alerts."""
    return alarm_or_group(event)


@app.on_sns_message(topic=_TOPICS.alerts_warning_topic, name="notify_slack_warning")
def notify_slack_warning(event):
    """Post a warning alert group to Slack; each attempt is recorded on its alerts."""
    return alarm_or_group(event)


@app.on_sns_message(topic=_TOPICS.alerts_digest_topic, name="notify_slack_digest")
def notify_slack_digest(event):
    """Post an info (digest) alert group to Slack; each attempt is recorded on its alerts."""
    return delivery.notify_slack(delivery.sns_message(event.message))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="dispatch_alerts")
def dispatch_alerts(event):
    """Retry the Slack posts that are due, then publish the alert groups that are ready."""
    return delivery.run_scheduled()


# ---- alerts: alarms
# The CloudWatch alarms (infra/template.json: HighErrorRateAlarm, SlowAPIResponseAlarm) publish to the
# paging and warning topics, so their state changes arrive at those topics' notifiers above, beside
# our own group messages (docs/alerts.md, "CloudWatch alarms").
def alarm_or_group(event):
    """A CloudWatch alarm state change becomes an alert record; anything else is a group for Slack."""
    message = delivery.sns_message(event.message)
    if alarms.is_alarm_message(message):
        alert = alarms.handle_alarm_message(message)
        return {"alarm": message["AlarmName"], "alertId": alert["id"] if alert else None}
    return delivery.notify_slack(message)


# ---- releases: issues
ISSUES = "/api/issues"


def _issue_headers(record: dict, created: bool = False) -> dict:
    headers = {"ETag": issues.etag(record)}
    return headers | ({"Location": f"{ISSUES}/{record['id']}"} if created else {})


@app.route(ISSUES, methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def create_issue(call: Call):
    """A new BUG-### issue (open); feedbackIds links those items both ways."""
    record = issues.create_issue(call.principal, call.body(issue_schemas.IssueCreate), settings=call.settings)
    return json_response(record, 201, _issue_headers(record, created=True))


@app.route(ISSUES, methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def list_issues(call: Call):
    """Issues newest first, filtered by severity, status, featureArea; cursor-paginated."""
    return issues.list_issues(call.params(issue_schemas.IssueListQuery), settings=call.settings)


@app.route(ISSUES + "/{issue_id}", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def get_issue(call: Call, issue_id: str):
    record = issues.get_issue(issue_id, settings=call.settings)
    return json_response(record, 200, _issue_headers(record))


@app.route(ISSUES + "/{issue_id}", methods=["PATCH"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def update_issue(call: Call, issue_id: str):
    """Edit and move along the lifecycle; If-Match (or body version) guards against lost updates."""
    change, if_match = call.body(issue_schemas.IssueUpdate), call.header("If-Match")
    record = issues.update_issue(call.principal, issue_id, change, if_match, settings=call.settings)
    return json_response(record, 200, _issue_headers(record))


@app.route(FEEDBACK + "/{feedback_id}/issue", methods=["POST"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def issue_from_feedback(call: Call, feedback_id: str):
    """An issue from a feedback item (201), or the item joined to an existing issue (200)."""
    body = call.body(issue_schemas.IssueFromFeedback) if call.request.raw_body else None
    record, created = issues.issue_from_feedback(call.principal, feedback_id, body, settings=call.settings)
    return json_response(record, 201 if created else 200, _issue_headers(record, created=created))


# ---- releases: api
RELEASES = "/api/releases"


@app.route(RELEASES, methods=["POST"])
@api.endpoint(Role.ADMIN)
def create_release(call: Call):
    """A planned release of fixed issues (201); dryRun: the checks and the plan only (200, no writes)."""
    record = releases.create_from_request(
        call.body(release_schemas.ReleaseCreate), actor=call.principal.sub, settings=call.settings
    )
    if record.get("dryRun"):
        return json_response(record, 200)
    return json_response(record, 201, {"Location": f"{RELEASES}/{record['version']}"})


@app.route(RELEASES, methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def list_releases(call: Call):
    """Releases newest first (?status=), cursor-paginated."""
    return releases.list_releases(call.params(release_schemas.ReleaseListQuery), settings=call.settings)


@app.route(RELEASES + "/{version}", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def get_release(call: Call, version: str):
    """One release: issues, targets, status, environments, gates, backups, history."""
    return releases.get_release(version, settings=call.settings)


# ---- releases: worker
# The rollout state machine's Python steps arrive on the gate queue, one message per invocation, each
# with a task token the worker answers (docs/releases.md, "Worker protocol"). The queue name is read at
# import, like the topic names above: ${AWS::StackName} resolves to infra/template.json's QueueName.
_GATE = get_settings()


@app.on_sqs_message(queue=_GATE.release_gate_queue, batch_size=1, name="release_worker")
def release_worker(event):
    """Run one rollout step (chalicelib.releases.rollout) and answer its task token."""
    return [release_worker_steps.process(record.body) for record in event]


# ---- phase 2 plan
@app.route("/api/monitoring/phase2", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def phase2_plan(call: Call):
    """Feature requests and usability feedback grouped, scored with the prioritization framework, ranked."""
    return phase2.phase2_plan(call.params(phase2_schemas.Phase2Query), settings=call.settings)


# ---- reports: api
@app.route("/api/monitoring/report", methods=["GET"])
@api.endpoint(Role.ENGINEER, Role.ADMIN)
def monitoring_report(call: Call):
    """Executive summary, health, feedback, alerts, releases, success metrics and ROI of a period."""
    query = call.params(report_schemas.ReportQuery)
    return reports.build_report(
        query.start, query.end, workspace_id=query.workspace_id, settings=call.settings
    )


# ---- reports: delivery
# REPORT_HOUR_UTC and REPORT_RETRY_MINUTES are read at import, like HEALTH_SCHEDULE_MINUTES: `chalice
# package` bakes them into the EventBridge rules (docs/reports.md, "Delivery").
_REPORTS = get_settings()


@app.schedule(Cron(0, _REPORTS.report_hour_utc, "*", "*", "?", "*"), name="daily_report")
def daily_report(event):
    """Build yesterday's report (once), store it, email it to REPORT_RECIPIENTS; info alert on success."""
    return report_delivery.run_daily()


@app.schedule(Rate(_REPORTS.report_retry_minutes, unit=Rate.MINUTES), name="retry_report_deliveries")
def retry_report_deliveries(event):
    """Send again the stored reports whose failed send's backoff has passed."""
    return report_delivery.retry_due()


# ---- dashboard
# The page and its bundle are public (static files, no data); every figure on it is fetched from the
# routes above with the user's token (docs/dashboard.md).
def _static(load) -> Response:
    try:
        found = load()
    except DomainError as error:
        return error_response(error)
    headers = {"Content-Type": found.content_type, "Cache-Control": found.cache_control}
    return Response(body=found.body, status_code=200, headers=headers | dashboard.SECURITY_HEADERS)


@app.route("/", methods=["GET"])
def root():
    """A browser opening the API lands on the dashboard."""
    location = dashboard.dashboard_location(app.current_request.context.get("path"))
    return Response(body="", status_code=302, headers={"Location": location, "Cache-Control": "no-store"})


@app.route("/dashboard", methods=["GET"])
def dashboard_page():
    """The monitoring dashboard (HTML); it signs in and loads its data itself."""
    return _static(dashboard.page)


@app.route("/dashboard/{asset}", methods=["GET"])
def dashboard_asset(asset: str):
    """The dashboard's script and stylesheet, by exact name among the built files."""
    return _static(lambda: dashboard.asset(asset))


# Keep last: answers CORS preflight for every route declared above.
api.install_preflight()
