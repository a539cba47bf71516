"""The feedback vocabulary: categories, severities, feature areas, statuses.

Apart from the request models (chalicelib.schemas.feedback) so that what needs only the names, such
as chalicelib.config on every cold start, does not build the models.
"""

from __future__ import annotations

from typing import Literal

CATEGORIES = ("bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback")
SEVERITIES = ("low", "medium", "high", "critical")
FEATURE_AREAS = ("appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general")
STATUSES = ("new", "acknowledged", "in_progress", "resolved", "closed")

Category = Literal[
    "bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback"
]
Severity = Literal["low", "medium", "high", "critical"]
FeatureArea = Literal["appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general"]
Status = Literal["new", "acknowledged", "in_progress", "resolved", "closed"]
