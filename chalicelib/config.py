"""Settings, read once from the environment.

On AWS the CloudFormation merge template sets the resource names (Globals.Function.Environment);
locally the dev stack resolves the same variables from the stack it created on moto.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.schemas.vocabulary import FeatureArea

LOCAL_STAGE = "local"
LOCAL_ISSUER = "post-launch-monitor-local"
# Cognito marks what a token is for in `token_use`; ID tokens carry `aud`, access tokens `client_id`.
TOKEN_USES = ("id", "access")
# ---- reports: delivery: the addresses of the local stage (verified on moto's SES by the local stack).
LOCAL_REPORT_SENDER = "reports@post-launch-monitor.local"
LOCAL_REPORT_RECIPIENTS = ("pharmacy-ops@post-launch-monitor.local",)


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# ---- phase 2 plan (docs/phase2.md, "Configuration"): the prioritization framework's inputs. Each
# is a JSON object in its environment variable, keyed as the API shows it (camelCase).
class _Phase2Config(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


def _sums_to_one(model: BaseModel, name: str) -> None:
    weights = model.model_dump(by_alias=True)
    total = sum(weights.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        given = ", ".join(f"{key}={value:g}" for key, value in weights.items())
        raise ValueError(
            f"{name}: the weights must sum to 1; {given} sum to {total:g} "
            "(a weight not given keeps its default)"
        )


class Phase2Weights(_Phase2Config):
    """PHASE2_WEIGHTS: the seed's four criteria. User impact leads because the plan is built from
    what users asked for; business value next; feasibility and alignment share the rest."""

    user_impact: float = Field(default=0.4, ge=0, le=1)
    business_value: float = Field(default=0.25, ge=0, le=1)
    technical_feasibility: float = Field(default=0.2, ge=0, le=1)
    strategic_alignment: float = Field(default=0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> Phase2Weights:
        _sums_to_one(self, "PHASE2_WEIGHTS")
        return self


class Phase2ImpactWeights(_Phase2Config):
    """PHASE2_IMPACT_WEIGHTS: how user impact blends its three counts. Distinct workspaces weigh most
    (a need shared by several pharmacies is a product need, one workspace's may be local), then
    distinct users; the raw number of requests least, so one user asking six times weighs less than
    two users of a workspace asking once each."""

    workspaces: float = Field(default=0.5, ge=0, le=1)
    users: float = Field(default=0.35, ge=0, le=1)
    requests: float = Field(default=0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> Phase2ImpactWeights:
        _sums_to_one(self, "PHASE2_IMPACT_WEIGHTS")
        return self


class Phase2ImpactReference(_Phase2Config):
    """PHASE2_IMPACT_REFERENCE: the count at which each part of user impact reaches 1 (log scale,
    so the first askers count most). Absolute, not relative to the biggest group, so a group's
    score does not move when another group grows."""

    workspaces: int = Field(default=10, ge=1, le=1_000_000)
    users: int = Field(default=25, ge=1, le=1_000_000)
    requests: int = Field(default=50, ge=1, le=1_000_000)


class Phase2AreaInput(_Phase2Config):
    """One feature area's ratings, 1 (least) to 5 (most); absent ones take PHASE2_DEFAULT_RATING.
    technicalFeasibility: 5 is easiest to build."""

    business_value: float | None = Field(default=None, ge=1, le=5)
    technical_feasibility: float | None = Field(default=None, ge=1, le=5)
    strategic_alignment: float | None = Field(default=None, ge=1, le=5)


_PHASE2_JSON_FIELDS = (
    "phase2_weights",
    "phase2_impact_weights",
    "phase2_impact_reference",
    "phase2_area_inputs",
)


class Settings(BaseModel):
    stage: str = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None

    feedback_table: str = "plm-local-feedback"
    idempotency_table: str = "plm-local-idempotency"
    rollups_table: str = "plm-local-rollups"
    issues_table: str = "plm-local-issues"
    health_table: str = "plm-local-health"
    alerts_table: str = "plm-local-alerts"
    alerts_topic_arn: str | None = None

    # ---- alerts: silences (docs/alerts.md, "Silences")
    silences_table: str = "plm-local-silences"
    # Active silences read per check (one Query on a sparse index holding only unexpired ones); past
    # this the oldest-ending are read and the rest reported truncated: a silence list that long is a
    # mistake to fix, not a configuration to support.
    silences_active_max: int = Field(default=200, ge=1, le=1000)

    # Auth: "hs256" verifies dev tokens signed with dev_token_secret (the local stage only: its secret
    # is published); "jwks" verifies RS256 tokens from the configured issuer's JWKS. Every stage but
    # local must be jwks with an https issuer, a key set and the app client ids (check_auth below).
    auth_mode: Literal["hs256", "jwks"] = "hs256"
    dev_token_secret: str = "local-dev-secret-not-for-production"
    jwt_issuer: str = LOCAL_ISSUER
    # The app client ids whose tokens are accepted (JWT_AUDIENCE, comma-separated): an ID token's
    # `aud`, an access token's `client_id`. Required in jwks mode; optional for dev tokens.
    jwt_audience: list[str] = Field(default_factory=list)
    # Which Cognito tokens are accepted (JWT_TOKEN_USE): ID tokens carry the workspace attribute,
    # access tokens only carry it when a pre-token-generation trigger adds it.
    jwt_token_use: list[Literal["id", "access"]] = Field(
        default_factory=lambda: list(TOKEN_USES), min_length=1
    )
    jwks_url: str | None = None
    jwks_json: str | None = None
    workspace_claim: str = "custom:workspace_id"
    groups_claim: str = "cognito:groups"

    cors_origins: list[str] = Field(default_factory=list)

    # Feedback listing looks back this far when no startDate is given, and never further than
    # list_max_days (a longer window is a 400 naming startDate).
    list_horizon_days: int = Field(default=366, ge=1)
    list_max_days: int = Field(default=366, ge=1)
    page_size_max: int = 100
    # What one list request may read (docs/feedback.md, "Cost ceilings"): items DynamoDB evaluates
    # (before filters; about 1 MB at ~1 KB an item, one or two Query pages, well under a second) and
    # index partitions queried (13: every month a 366-day window can touch). When either runs out
    # the page is returned short, with a cursor where reading stopped.
    list_max_items_read: int = Field(default=1000, ge=1)
    list_max_partitions: int = Field(default=13, ge=1)
    # Rounds of Queries one list request waits for: the newest partition first, then the partitions
    # still needed side by side (one round trip however many months are empty), so a request makes
    # at most this many sequential DynamoDB round trips (docs/feedback.md, "Cost ceilings").
    list_max_rounds: int = Field(default=3, ge=1)
    # Feedback summary: default and largest date window (days), and the items it may read (about
    # 20 MB, 20 one-MB Query pages: a few seconds); past that it reports the part it covered.
    summary_default_days: int = 30
    summary_max_days: int = 366
    summary_max_items_read: int = Field(default=20000, ge=1)
    # A feedback item keeps its newest history entries, at most this many (older ones are counted in
    # historyDropped). The upper bound keeps the largest possible item well under DynamoDB's 400 KB
    # (tests/unit/test_feedback_item_size.py proves it at this bound).
    feedback_history_max: int = Field(default=20, ge=1, le=25)
    # ---- releases: issues (docs/issues.md)
    # An issue keeps its newest history entries, at most this many (older ones are counted in
    # historyDropped), and links at most issue_feedback_max feedback items. The upper bounds keep the
    # largest possible item under DynamoDB's 400 KB (tests/unit/test_issues_item_size.py).
    issue_history_max: int = Field(default=30, ge=1, le=40)
    issue_feedback_max: int = Field(default=100, ge=1, le=200)

    # ---- releases: core (docs/releases.md)
    releases_table: str = "plm-local-releases"
    # The Lambda functions a release moves (RELEASE_TARGETS, comma-separated), and their aliases.
    release_targets: list[str] = Field(default_factory=lambda: ["patient-engagement-api"], min_length=1)
    release_staging_alias: str = "staging"
    release_production_alias: str = "live"

    # Open critical/high feedback and issues the health evaluator reads, per severity and kind;
    # more is reported truncated.
    health_open_items_max: int = Field(default=1000, ge=1)
    # Idempotency records live this long (DynamoDB TTL); a retry after that stores a new item.
    idempotency_ttl_seconds: int = 86400
    # The notification retry job leaves items younger than this to the request that wrote them.
    notify_retry_min_age_seconds: int = 60

    # System health (docs/health.md). What to read: the monitored module's API Gateway API (by name),
    # its Lambda function (empty = the account-wide AWS/Lambda aggregate) and DynamoDB tables (empty =
    # this stack's feedback table), and the namespace its adoption metrics are published to.
    health_api_name: str = "post-launch-monitor"
    health_lambda_function: str | None = None
    health_dynamodb_tables: list[str] = Field(default_factory=list)
    health_dynamodb_operations: list[str] = Field(
        default_factory=lambda: ["GetItem", "Query", "PutItem", "UpdateItem"]
    )
    health_adoption_namespace: str = "PatientEngagement"
    health_score_namespace: str = "PostLaunchMonitor"
    # Evaluation windows (each shown in the response).
    health_performance_window_minutes: int = Field(default=15, ge=1, le=1440)
    health_gauge_lookback_hours: int = Field(default=24, ge=1, le=336)
    health_rates_window_days: int = Field(default=7, ge=1, le=14)
    health_satisfaction_window_days: int = Field(default=30, ge=1, le=366)
    # Snapshots: the API answers from the latest one while it is this fresh; they expire after
    # retention (DynamoDB TTL). The scheduled evaluator runs every health_schedule_minutes (read when
    # app.py is imported, so `chalice package`/`deploy` bake it into the EventBridge rule).
    health_freshness_seconds: int = Field(default=60, ge=0, le=3600)
    health_retention_days: int = Field(default=35, ge=1, le=400)
    health_schedule_minutes: int = Field(default=5, ge=1, le=1440)
    health_history_max_points: int = Field(default=2000, ge=1, le=10000)
    # Below this share of the score's inputs with data, the report says sufficientData: false (the
    # score stays the seed's: a 100 from 2 of 7 inputs is "nothing wrong in the little we saw").
    health_min_completeness: float = Field(default=0.6, ge=0, le=1)
    # Percentile statistics (p95, PR(:500)). None = on everywhere but the local stage, whose moto
    # CloudWatch answers HTTP 500 to any percentile query (docs/health.md, "moto").
    health_percentile_stats: bool | None = None
    # SLOs (percent targets over slo_window_days).
    slo_availability_target: float = Field(default=99.9, gt=0, lt=100)
    slo_latency_threshold_ms: float = Field(default=500, gt=0)
    slo_latency_target: float = Field(default=95.0, gt=0, lt=100)
    slo_window_days: int = Field(default=30, ge=1, le=63)
    # Summary points the SLO report reads for snapshot uptime (30 days at 5 minutes is 8640; each
    # ?refresh=true adds one more). About 250 bytes a point: 5 MB at most.
    slo_max_snapshot_points: int = Field(default=20000, ge=1, le=100000)

    # ---- reports: delivery (docs/reports.md, "Delivery")
    # The daily report is built at report_hour_utc for the previous UTC day, stored on HealthTable
    # (series "report#daily") and emailed through SES from report_sender to report_recipients. The
    # local stage falls back to the addresses the local stack verifies on moto's SES.
    report_sender: str | None = None
    report_recipients: list[str] = Field(default_factory=list)
    report_hour_utc: int = Field(default=6, ge=0, le=23)
    # A failed send is retried every report_retry_minutes (the schedule), after backoff * 2^(attempt-1)
    # (at most backoff_max), until max_attempts, then given up and recorded so.
    report_retry_minutes: int = Field(default=15, ge=1, le=1440)
    report_delivery_max_attempts: int = Field(default=5, ge=1, le=20)
    report_delivery_backoff_seconds: int = Field(default=900, ge=0, le=86400)
    report_delivery_backoff_max_seconds: int = Field(default=6 * 3600, ge=0, le=7 * 86400)
    # Stored reports expire (DynamoDB TTL) after this; pending deliveries are looked for this far back.
    report_retention_days: int = Field(default=400, ge=1, le=3650)
    report_retry_horizon_days: int = Field(default=7, ge=1, le=60)

    # ---- alerts: delivery (docs/alerts.md "Routing and delivery")
    # Severity routes: critical and error page, warning warns, info goes to the digest.
    alerts_paging_topic_arn: str | None = None
    alerts_warning_topic_arn: str | None = None
    alerts_digest_topic_arn: str | None = None
    # The topic names the @app.on_sns_message handlers subscribe to, read when app.py is imported.
    # `chalice package` splices a name into Fn::Sub "arn:...:${AWS::AccountId}:<name>", so the
    # default's ${AWS::StackName} resolves at deploy time to the TopicName infra/template.json gives.
    alerts_paging_topic: str = "${AWS::StackName}-alerts-paging"
    alerts_warning_topic: str = "${AWS::StackName}-alerts-warning"
    alerts_digest_topic: str = "${AWS::StackName}-alerts-digest"
    # Alertmanager's timing, judged by the dispatcher on each run (it runs every minute and right
    # after each evaluation): a rule's group is sent once its oldest owed notification has waited
    # group_wait and its last send is group_interval old; a still-firing alert repeats every
    # repeat_interval.
    alert_group_wait_seconds: int = Field(default=10, ge=0, le=3600)
    alert_group_interval_seconds: int = Field(default=10, ge=0, le=86400)
    alert_repeat_interval_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    # A failed delivery is retried after backoff * 2^(attempt-1) (at most backoff_max, never sooner
    # than Slack's Retry-After) until max_attempts, then given up (IntegrationFailure fires).
    alert_delivery_max_attempts: int = Field(default=6, ge=1, le=20)
    alert_delivery_backoff_seconds: int = Field(default=60, ge=0, le=3600)
    alert_delivery_backoff_max_seconds: int = Field(default=1800, ge=0, le=86400)
    # Alerts one dispatcher run reads; more wait for the next run.
    alert_dispatch_max_alerts: int = Field(default=200, ge=1, le=1000)
    # The Slack incoming webhook: a credential, so SecretStr (never in a repr or a log line).
    slack_webhook_url: SecretStr | None = None
    slack_webhook_secret_arn: str | None = None
    slack_timeout_seconds: int = Field(default=10, ge=1, le=60)
    # Where the alert links in a message point: <base>/api/monitoring/alerts/{id} (empty: a path).
    alerts_link_base_url: str = ""

    # ---- alerts: core (docs/alerts.md, "Rules" and "Lifecycle").
    # Response time per severity: an alert unacknowledged this long after firstSeen is overdue and
    # escalated (the seed's response times: immediately = 15 min, 2 h, 8 h, 24 h).
    alert_response_critical_minutes: int = Field(default=15, ge=1)
    alert_response_error_minutes: int = Field(default=120, ge=1)
    alert_response_warning_minutes: int = Field(default=480, ge=1)
    alert_response_info_minutes: int = Field(default=1440, ge=1)
    # An alert keeps its newest delivery attempts, at most this many (older ones counted in
    # deliveriesDropped), so the item stays far below DynamoDB's 400 KB.
    alert_deliveries_max: int = Field(default=50, ge=1, le=200)
    # Active alerts read at most (health's stability.activeAlerts, auto-resolve); more is truncated.
    alert_active_max: int = Field(default=1000, ge=1)
    # The evaluator runs every alert_schedule_minutes (read when app.py is imported, like health's).
    alert_schedule_minutes: int = Field(default=1, ge=1, le=60)
    # Rules (docs/alerts.md, "Rules"). "Sustained N minutes" = the newest N one-minute datapoints
    # within the last N + alert_metric_delay_minutes minutes all breach (CloudWatch publishes a
    # minute or two late, so the newest minutes may have no datapoint yet).
    alert_metric_delay_minutes: int = Field(default=3, ge=0, le=60)
    alert_high_error_rate_percent: float = Field(default=10, gt=0, le=100)
    alert_high_error_rate_minutes: int = Field(default=2, ge=1, le=60)
    alert_elevated_error_rate_percent: float = Field(default=2, gt=0, le=100)
    alert_elevated_error_rate_minutes: int = Field(default=5, ge=1, le=60)
    alert_degraded_latency_ms: float = Field(default=1000, gt=0)
    alert_degraded_latency_minutes: int = Field(default=5, ge=1, le=60)
    alert_slow_latency_ms: float = Field(default=500, gt=0)
    alert_slow_latency_minutes: int = Field(default=5, ge=1, le=60)
    alert_memory_percent: float = Field(default=90, gt=0, le=100)
    alert_memory_minutes: int = Field(default=5, ge=1, le=60)
    # SecurityBreach: this many 401/403 answers (our AuthFailures metric) within the window.
    alert_auth_failures_count: int = Field(default=50, ge=1)
    alert_auth_failures_minutes: int = Field(default=5, ge=1, le=60)
    # SystemDown: no API requests for this long while the latest health snapshot reports active
    # workspaces; or no health snapshot newer than alert_health_stale_minutes (evaluation failing).
    alert_no_traffic_minutes: int = Field(default=10, ge=1, le=60)
    alert_health_stale_minutes: int = Field(default=15, ge=1, le=1440)
    # DataLossRisk: the tables checked (empty = every table of this stack) and how far behind now
    # the latest restorable time may lag before point-in-time recovery counts as failing.
    alert_backup_tables: list[str] = Field(default_factory=list)
    alert_pitr_max_lag_minutes: int = Field(default=30, ge=1)
    # The lag check: None = on everywhere but the local stage, whose moto keeps the restorable time
    # where it was when recovery was switched on (it would look lagging after half an hour).
    alert_pitr_lag_check: bool | None = None
    # Feedback rules: a window of recent feedback (byMonth index, at most alert_feedback_max_items read).
    alert_feature_failure_count: int = Field(default=3, ge=1)
    alert_feature_failure_minutes: int = Field(default=60, ge=1, le=1440)
    alert_similar_complaints_count: int = Field(default=5, ge=1)
    alert_similar_complaints_minutes: int = Field(default=60, ge=1, le=1440)
    alert_feedback_max_items: int = Field(default=1000, ge=1)
    # LowAdoption: daily active users below this share (percent) of enabled users (health's snapshot).
    alert_low_adoption_percent: float = Field(default=30, gt=0, le=100)
    # IntegrationFailure: alerts whose latest delivery attempt (within the window) failed or was
    # given up, at least this many.
    alert_integration_failures: int = Field(default=1, ge=1)
    alert_integration_window_minutes: int = Field(default=60, ge=1, le=1440)

    # ---- releases: gate (docs/releases.md, "The gate")
    # A step's verdict: the new version needs this many invocations over the step to be judged (fewer
    # is inconclusive); its error rate at most max_error_rate_percent, at most
    # max_error_rate_increase_points above the old version's over the same window, and its duration
    # (p95 where percentiles are served, else Average) at most max_duration_ratio times the old one's.
    release_gate_min_invocations: int = Field(default=50, ge=1)
    release_gate_max_error_rate_percent: float = Field(default=1.0, ge=0, le=100)
    release_gate_max_error_rate_increase_points: float = Field(default=0.5, ge=0, le=100)
    release_gate_max_duration_ratio: float = Field(default=1.5, gt=0)
    # Health score at the end of a step (judged only when the report has sufficientData), and before
    # a production rollout starts.
    release_gate_min_health_score: int = Field(default=70, ge=0, le=100)
    release_predeploy_min_health_score: int = Field(default=80, ge=0, le=100)
    # Bug reports or critical feedback in the release's feature areas since the step began: more than
    # this fails the step. The read is bounded: at most feedback_max_items items of the window.
    release_gate_max_new_reports: int = Field(default=0, ge=0)
    release_gate_feedback_max_items: int = Field(default=1000, ge=1, le=10000)
    # ---- troubleshooting (docs/troubleshooting.md)
    # The DynamoDB operations `db-check` reads latency and throttled requests for (those our stores
    # use: PynamoDB get/query/save/update/delete/batch_write and the feedback TransactWrite).
    dbcheck_operations: list[str] = Field(
        default_factory=lambda: [
            "GetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ],
        min_length=1,
    )
    # ---- phase 2 plan (docs/phase2.md)
    # The window (days, today included) when none is given, and the longest one accepted.
    phase2_default_days: int = Field(default=90, ge=1)
    phase2_max_days: int = Field(default=366, ge=1)
    # Items the plan may read (as the summary: about 20 MB); past it the plan covers the newest part.
    phase2_max_items_read: int = Field(default=20000, ge=1)
    # Two titles of one feature area are alike when the Jaccard similarity of their stemmed token
    # sets reaches this; 0.5 joins "SMS reminders" and "Send reminders by SMS" but not "Email reminders".
    phase2_similarity_threshold: float = Field(default=0.5, gt=0, le=1)
    # Feedback ids listed as a group's evidence (the newest); `count` always says how many there are.
    phase2_evidence_ids_max: int = Field(default=20, ge=1, le=100)
    # The rating a feature area's input takes when PHASE2_AREA_INPUTS does not give it: neutral.
    phase2_default_rating: float = Field(default=3, ge=1, le=5)
    phase2_weights: Phase2Weights = Field(default_factory=Phase2Weights)
    phase2_impact_weights: Phase2ImpactWeights = Field(default_factory=Phase2ImpactWeights)
    phase2_impact_reference: Phase2ImpactReference = Field(default_factory=Phase2ImpactReference)
    phase2_area_inputs: dict[FeatureArea, Phase2AreaInput] = Field(default_factory=dict)

    # ---- reports: metrics and ROI (docs/reports.md)
    # The period when none is given (days, today included), and the longest one accepted: 92 days
    # (a quarter) keeps every read bounded (docs/reports.md, "What a report reads").
    report_default_days: int = Field(default=30, ge=1)
    report_max_days: int = Field(default=92, ge=1, le=366)
    # Stored health points (about 250 bytes each) a report reads: 92 days of 5-minute evaluations
    # is 26 496; past the ceiling it reads the newest and says so.
    report_health_max_points: int = Field(default=30000, ge=1, le=100000)
    # Alerts read per state partition (firing, acknowledged, resolved) and releases read.
    report_alerts_max: int = Field(default=1000, ge=1, le=10000)
    report_releases_max: int = Field(default=100, ge=1, le=1000)
    # Patient engagement: the counts that make "patient interactions", their monthly level before the
    # module (unset: the change is null with that reason) and the seed's target (+40 %).
    report_engagement_metrics: list[str] = Field(
        default_factory=lambda: ["AppointmentsCompleted", "FollowUpsCompleted", "PatientPortalSessions"],
        min_length=1,
    )
    report_engagement_baseline_monthly: float | None = Field(default=None, gt=0)
    report_engagement_target_percent: float = 40.0
    # Targets the seed does not number (its figures are used where it gives them: uptime 99.9 %
    # from SLO_AVAILABILITY_TARGET, error rate < 1 %, p95 < SLO_LATENCY_THRESHOLD_MS).
    report_target_follow_up_completion_percent: float = Field(default=80.0, ge=0, le=100)
    report_target_no_show_percent: float = Field(default=10.0, ge=0, le=100)
    report_target_reminder_delivery_percent: float = Field(default=95.0, ge=0, le=100)
    report_target_error_rate_percent: float = Field(default=1.0, ge=0, le=100)
    report_target_feature_adoption_percent: float = Field(default=30.0, ge=0, le=100)
    report_target_satisfaction: float = Field(default=4.0, ge=1, le=5)
    # Support requests: the feedback volume of the period's second half against its first; met when
    # it changed by at most this many percent (0: no growth).
    report_target_support_change_percent: float = 0.0
    # ROI inputs (the seed's formulas). Money in report_currency; unset ones make the figures that
    # need them null, naming the setting. Minutes saved per delivered reminder and per completed
    # follow-up turn the measured work into time saved.
    report_currency: str = Field(default="USD", min_length=3, max_length=3)
    report_roi_hourly_rate: float | None = Field(default=None, ge=0)
    report_roi_minutes_per_reminder: float | None = Field(default=None, ge=0)
    report_roi_minutes_per_follow_up: float | None = Field(default=None, ge=0)
    report_roi_operational_cost_reduction_monthly: float | None = Field(default=None, ge=0)
    report_roi_implementation_cost: float | None = Field(default=None, gt=0)
    report_roi_mtm_billing_monthly: float | None = Field(default=None, ge=0)
    report_roi_patient_retention_monthly: float | None = Field(default=None, ge=0)
    report_roi_new_services_monthly: float | None = Field(default=None, ge=0)

    @field_validator(*_PHASE2_JSON_FIELDS, mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from exc
        return value

    @model_validator(mode="after")
    def _phase2_window_within_cap(self) -> Settings:
        if self.phase2_default_days > self.phase2_max_days:
            raise ValueError("PHASE2_DEFAULT_DAYS must not exceed PHASE2_MAX_DAYS")
        return self

    # ---- reports: metrics and ROI
    @model_validator(mode="after")
    def _report_settings_valid(self) -> Settings:
        from chalicelib.health.contract import COUNTS

        if self.report_default_days > self.report_max_days:
            raise ValueError("REPORT_DEFAULT_DAYS must not exceed REPORT_MAX_DAYS")
        unknown = [name for name in self.report_engagement_metrics if name not in COUNTS]
        if unknown:
            raise ValueError(
                f"REPORT_ENGAGEMENT_METRICS: {', '.join(unknown)} not among the metric contract's counts "
                f"({', '.join(COUNTS)})"
            )
        return self

    @model_validator(mode="after")
    def _horizon_within_cap(self) -> Settings:
        if self.list_horizon_days > self.list_max_days:
            raise ValueError("LIST_HORIZON_DAYS must not exceed LIST_MAX_DAYS")
        return self

    @model_validator(mode="after")
    def check_auth(self) -> Settings:
        """Fail closed: refuse to start rather than verify tokens with the published dev secret, or
        accept tokens of any app client of the pool."""
        if self.stage != LOCAL_STAGE and self.auth_mode != "jwks":
            raise ValueError(
                f"STAGE={self.stage} refuses to start with AUTH_MODE={self.auth_mode}: every stage but "
                f"{LOCAL_STAGE} verifies RS256 tokens from its identity provider. Set AUTH_MODE=jwks, "
                "JWT_ISSUER, JWKS_URL (or JWKS_JSON) and JWT_AUDIENCE (the app client ids)."
            )
        if self.auth_mode == "jwks":
            missing = []
            if self.jwt_issuer == LOCAL_ISSUER or not self.jwt_issuer.startswith("https://"):
                missing.append("JWT_ISSUER (the issuer's https URL)")
            if not (self.jwks_url or self.jwks_json):
                missing.append("JWKS_URL (or JWKS_JSON)")
            if not self.jwt_audience:
                missing.append("JWT_AUDIENCE (the app client ids, comma-separated)")
            if missing:
                raise ValueError(
                    f"STAGE={self.stage} with AUTH_MODE=jwks refuses to start without: {'; '.join(missing)}."
                )
        return self

    # Patient identifiers in feedback: Amazon Comprehend Medical DetectPHI runs after the patterns when
    # on (the deployed stages; the local stack has no stand-in for it). Entities scoring below the
    # threshold are left alone (docs/feedback.md "Redaction").
    phi_detector_comprehend: bool = False
    phi_detector_min_score: float = Field(default=0.5, ge=0, le=1)

    # ---- releases: machine (docs/release-machine.md)
    # The rollout state machine (CloudFormation's Ref; the local stack creates it from the same ASL).
    release_state_machine_arn: str | None = None
    # The gate queue the machine's worker steps go through. The name is read when app.py is imported
    # (the @app.on_sqs_message worker): `chalice package` splices it into an Fn::Sub ARN, where
    # ${AWS::StackName} resolves to the QueueName infra/template.json gives, as for the alert topics.
    release_gate_queue: str = "${AWS::StackName}-release-gate"
    release_gate_queue_url: str | None = None

    # ---- releases: rollout (docs/releases.md, "Steps, bakes and pauses")
    # Production traffic percentages on the new version, ascending, ending at 100 (an execution's
    # input `steps` overrides them); the bake at each step; the longest wait between two gate checks
    # during a bake, which is also how long an abort can take to act; how long a paused rollout waits
    # for an operator before it rolls back (Step Functions' limit for a task is a year).
    release_steps: str = "10,25,50,100"
    release_bake_seconds: int = Field(default=300, ge=0, le=86400)
    release_tick_seconds: int = Field(default=10, ge=1, le=300)
    release_pause_timeout_seconds: int = Field(default=86400, ge=1, le=31536000)

    # ---- reports: delivery
    @model_validator(mode="after")
    def _local_report_addresses(self) -> Settings:
        if self.stage == LOCAL_STAGE:
            self.report_sender = self.report_sender or LOCAL_REPORT_SENDER
            self.report_recipients = self.report_recipients or list(LOCAL_REPORT_RECIPIENTS)
        return self

    @property
    def release_step_list(self) -> list[int]:
        """RELEASE_STEPS as integers (checked when the settings load)."""
        return [int(part) for part in _csv(self.release_steps)]

    @model_validator(mode="after")
    def _release_steps_valid(self) -> Settings:
        try:
            steps = self.release_step_list
        except ValueError:
            steps = []
        if not steps or steps[-1] != 100 or steps != sorted(set(steps)) or steps[0] < 1:
            raise ValueError(
                f"RELEASE_STEPS={self.release_steps!r}: ascending percentages from 1 to 100 ending at 100, "
                "e.g. 10,25,50,100."
            )
        return self

    @property
    def percentile_stats(self) -> bool:
        if self.health_percentile_stats is None:
            return self.stage != "local"
        return self.health_percentile_stats

    @property
    def pitr_lag_check(self) -> bool:
        if self.alert_pitr_lag_check is None:
            return self.stage != LOCAL_STAGE
        return self.alert_pitr_lag_check

    @property
    def stack_tables(self) -> list[str]:
        """Every table of this stack (DataLossRisk checks them unless ALERT_BACKUP_TABLES says otherwise)."""
        return self.alert_backup_tables or [
            self.feedback_table,
            self.idempotency_table,
            self.rollups_table,
            self.issues_table,
            self.health_table,
            self.alerts_table,
            self.silences_table,
            self.releases_table,
        ]

    @property
    def named_tables(self) -> dict[str, str]:
        """Every table setting (`<role>_table`) by role: the tables `db-check` looks at. New tables
        added as settings are picked up without a list to keep in step."""
        return {
            name.removesuffix("_table"): getattr(self, name)
            for name in type(self).model_fields
            if name.endswith("_table") and getattr(self, name)
        }

    @property
    def health_tables(self) -> list[str]:
        return self.health_dynamodb_tables or [self.feedback_table]

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("STAGE") or LOCAL_STAGE
        if stage == LOCAL_STAGE and env.get("AWS_LAMBDA_FUNCTION_NAME"):
            # A stage added to .chalice/config.json without STAGE must not run as the local stage.
            stage = "lambda-without-STAGE"
        values: dict[str, object] = {
            "stage": stage,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "cors_origins": _csv(env.get("CORS_ORIGINS")),
            "jwt_audience": _csv(env.get("JWT_AUDIENCE")),
            "health_dynamodb_tables": _csv(env.get("HEALTH_DYNAMODB_TABLES")),
            "alert_backup_tables": _csv(env.get("ALERT_BACKUP_TABLES")),
            # ---- reports: delivery
            "report_recipients": _csv(env.get("REPORT_RECIPIENTS")),
            # ---- releases: core
            **(
                {"release_targets": _csv(env.get("RELEASE_TARGETS"))}
                if _csv(env.get("RELEASE_TARGETS"))
                else {}
            ),
            **(
                {"dbcheck_operations": _csv(env.get("DBCHECK_OPERATIONS"))}
                if _csv(env.get("DBCHECK_OPERATIONS"))
                else {}
            ),
            **({"jwt_token_use": _csv(env.get("JWT_TOKEN_USE"))} if _csv(env.get("JWT_TOKEN_USE")) else {}),
            # ---- reports: metrics and ROI
            **(
                {"report_engagement_metrics": _csv(env.get("REPORT_ENGAGEMENT_METRICS"))}
                if _csv(env.get("REPORT_ENGAGEMENT_METRICS"))
                else {}
            ),
            **(
                {"health_dynamodb_operations": _csv(env.get("HEALTH_DYNAMODB_OPERATIONS"))}
                if _csv(env.get("HEALTH_DYNAMODB_OPERATIONS"))
                else {}
            ),
        }
        for name in (
            "feedback_table",
            "idempotency_table",
            "rollups_table",
            "issues_table",
            "health_table",
            "alerts_topic_arn",
            # ---- releases: issues
            "issue_history_max",
            "issue_feedback_max",
            # ---- releases: core
            "releases_table",
            "release_staging_alias",
            "release_production_alias",
            # ---- alerts: silences
            "silences_table",
            "silences_active_max",
            # ---- alerts: core
            "alerts_table",
            "alert_response_critical_minutes",
            "alert_response_error_minutes",
            "alert_response_warning_minutes",
            "alert_response_info_minutes",
            "alert_deliveries_max",
            "alert_active_max",
            "alert_schedule_minutes",
            "alert_metric_delay_minutes",
            "alert_high_error_rate_percent",
            "alert_high_error_rate_minutes",
            "alert_elevated_error_rate_percent",
            "alert_elevated_error_rate_minutes",
            "alert_degraded_latency_ms",
            "alert_degraded_latency_minutes",
            "alert_slow_latency_ms",
            "alert_slow_latency_minutes",
            "alert_memory_percent",
            "alert_memory_minutes",
            "alert_auth_failures_count",
            "alert_auth_failures_minutes",
            "alert_no_traffic_minutes",
            "alert_health_stale_minutes",
            "alert_pitr_max_lag_minutes",
            "alert_pitr_lag_check",
            "alert_feature_failure_count",
            "alert_feature_failure_minutes",
            "alert_similar_complaints_count",
            "alert_similar_complaints_minutes",
            "alert_feedback_max_items",
            "alert_low_adoption_percent",
            "alert_integration_failures",
            "alert_integration_window_minutes",
            "auth_mode",
            "dev_token_secret",
            "jwt_issuer",
            "jwks_url",
            "jwks_json",
            "workspace_claim",
            "groups_claim",
            "list_horizon_days",
            "list_max_days",
            "page_size_max",
            "list_max_items_read",
            "list_max_partitions",
            "list_max_rounds",
            "summary_default_days",
            "summary_max_days",
            "feedback_history_max",
            "summary_max_items_read",
            "health_open_items_max",
            "idempotency_ttl_seconds",
            "notify_retry_min_age_seconds",
            "health_api_name",
            "health_lambda_function",
            "health_adoption_namespace",
            "health_score_namespace",
            "health_performance_window_minutes",
            "health_gauge_lookback_hours",
            "health_rates_window_days",
            "health_satisfaction_window_days",
            "health_freshness_seconds",
            "health_retention_days",
            "health_schedule_minutes",
            "health_history_max_points",
            "health_min_completeness",
            "health_percentile_stats",
            "slo_availability_target",
            "slo_latency_threshold_ms",
            "slo_latency_target",
            "slo_window_days",
            "slo_max_snapshot_points",
            "phi_detector_comprehend",
            "phi_detector_min_score",
            # ---- releases: gate
            "release_gate_min_invocations",
            "release_gate_max_error_rate_percent",
            "release_gate_max_error_rate_increase_points",
            "release_gate_max_duration_ratio",
            "release_gate_min_health_score",
            "release_predeploy_min_health_score",
            "release_gate_max_new_reports",
            "release_gate_feedback_max_items",
            # ---- alerts: delivery
            "alerts_paging_topic_arn",
            "alerts_warning_topic_arn",
            "alerts_digest_topic_arn",
            "alerts_paging_topic",
            "alerts_warning_topic",
            "alerts_digest_topic",
            "alert_group_wait_seconds",
            "alert_group_interval_seconds",
            "alert_repeat_interval_seconds",
            "alert_delivery_max_attempts",
            "alert_delivery_backoff_seconds",
            "alert_delivery_backoff_max_seconds",
            "alert_dispatch_max_alerts",
            "slack_webhook_url",
            "slack_webhook_secret_arn",
            "slack_timeout_seconds",
            "alerts_link_base_url",
            # ---- reports: delivery
            "report_sender",
            "report_hour_utc",
            "report_retry_minutes",
            "report_delivery_max_attempts",
            "report_delivery_backoff_seconds",
            "report_delivery_backoff_max_seconds",
            "report_retention_days",
            "report_retry_horizon_days",
            # ---- releases: machine
            "release_state_machine_arn",
            "release_gate_queue",
            "release_gate_queue_url",
            # ---- releases: rollout
            "release_steps",
            "release_bake_seconds",
            "release_tick_seconds",
            "release_pause_timeout_seconds",
            # ---- phase 2 plan
            "phase2_default_days",
            "phase2_max_days",
            "phase2_max_items_read",
            "phase2_similarity_threshold",
            "phase2_evidence_ids_max",
            "phase2_default_rating",
            *_PHASE2_JSON_FIELDS,
            # ---- reports: metrics and ROI
            "report_default_days",
            "report_max_days",
            "report_health_max_points",
            "report_alerts_max",
            "report_releases_max",
            "report_engagement_baseline_monthly",
            "report_engagement_target_percent",
            "report_target_follow_up_completion_percent",
            "report_target_no_show_percent",
            "report_target_reminder_delivery_percent",
            "report_target_error_rate_percent",
            "report_target_feature_adoption_percent",
            "report_target_satisfaction",
            "report_target_support_change_percent",
            "report_currency",
            "report_roi_hourly_rate",
            "report_roi_minutes_per_reminder",
            "report_roi_minutes_per_follow_up",
            "report_roi_operational_cost_reduction_monthly",
            "report_roi_implementation_cost",
            "report_roi_mtm_billing_monthly",
            "report_roi_patient_retention_monthly",
            "report_roi_new_services_monthly",
        ):
            raw = env.get(name.upper())
            if raw not in (None, ""):
                values[name] = raw
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the cached settings (tests and the dev stack change the environment)."""
    get_settings.cache_clear()
    from chalicelib.integrations.aws import reset_clients
    from chalicelib.store.base import unbind_models

    reset_clients()
    unbind_models()
