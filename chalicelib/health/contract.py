"""The metric contract of the Patient Engagement module (docs/health.md, "Metric contract").

The module publishes these to CloudWatch namespace `PatientEngagement` (setting
health_adoption_namespace), the aggregate without dimensions; a per-workspace copy with dimension
`WorkspaceId` may be published beside it. All are unit Count. Gauges are levels sampled now and then
(read: latest value); counts are events per period (read: Sum over a window). Publish explicit zeros:
CloudWatch cannot tell "nothing happened" from "nobody reported", and health reports the latter as
missing, not as zero.
"""

from __future__ import annotations

GAUGES = ("ActiveWorkspaces", "EnabledUsers", "DailyActiveUsers", "WeeklyActiveUsers")
COUNTS = (
    "AppointmentsCreated",
    "AppointmentsScheduled",
    "AppointmentsCompleted",
    "NoShows",
    "FollowUpsDue",
    "FollowUpsCompleted",
    "RemindersSent",
    "RemindersDelivered",
    "PatientPortalSessions",
)
ALL_METRICS = GAUGES + COUNTS
UNIT = "Count"
WORKSPACE_DIMENSION = "WorkspaceId"

# Health score published by the scheduled evaluator (namespace health_score_namespace).
HEALTH_SCORE_METRIC = "HealthScore"
HEALTH_COMPLETENESS_METRIC = "HealthDataCompleteness"
