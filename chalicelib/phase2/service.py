"""The Phase 2 plan: feature requests and usability feedback of a window, grouped, scored with the
seed's prioritization framework and ranked (docs/phase2.md). No HTTP and no boto3 here: the
feedback is read through chalicelib.feedback.service, as its summary reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.feedback.service import feedback_in_window
from chalicelib.feedback.windows import summary_window, utcnow
from chalicelib.phase2 import grouping, scoring
from chalicelib.schemas.feedback import parse
from chalicelib.schemas.phase2 import Phase2Query

CATEGORIES = ("feature_request", "usability_issue")
# What the plan needs of each item: the queries read only these attributes.
ATTRIBUTES = ("id", "createdAt", "category", "featureArea", "title", "userId", "workspaceId")
OTHER_TITLES_MAX = 5


def phase2_plan(
    query: Phase2Query | dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The ranked plan, best first, at most `limit` items, each with its score, components and
    evidence. Reads the window's months of the byMonth index (never a scan), at most
    PHASE2_MAX_ITEMS_READ items; past that the plan covers the newest part (`complete` false,
    `coveredFrom`)."""
    settings = settings or get_settings()
    query = parse(Phase2Query, query)
    window = summary_window(
        query.start,
        query.end,
        settings.phase2_default_days,
        settings.phase2_max_days,
        now or utcnow(),
        names=("start", "end"),
        what="the Phase 2 plan",
    )
    found = feedback_in_window(window, CATEGORIES, ATTRIBUTES, settings.phase2_max_items_read, settings)
    requests = [grouping.Request.from_record(r) for r in found.records]
    groups = grouping.group_requests(requests, settings.phase2_similarity_threshold)
    items = []
    for group in groups:
        evidence = group.evidence(settings.phase2_evidence_ids_max)
        score, components = scoring.score(group.feature_area, evidence, settings)
        items.append(
            {
                "featureArea": group.feature_area,
                "title": group.title,
                "score": score,
                "components": components,
                "otherTitles": group.other_titles(OTHER_TITLES_MAX),
                "evidence": evidence,
            }
        )
    items.sort(key=scoring.rank_key)
    for rank, item in enumerate(items, start=1):
        item["rank"] = rank
    covered = found.covered(window)
    return {
        "items": items[: query.limit],
        "groups": len(items),
        "requests": len(requests),
        "window": {"start": window.start_key, "end": window.end_key, "days": len(window.days())},
        "complete": found.covered_from is None,
        "coveredFrom": covered.start_key,
        "itemsRead": found.read,
        "queries": found.queries,
        "categories": list(CATEGORIES),
        "method": {
            "similarity": (
                "Jaccard similarity of title signatures (case-folded words without stop words, "
                "Snowball English stems), within one feature area, against each group's seed title"
            ),
            "threshold": settings.phase2_similarity_threshold,
            "score": "100 × Σ weight × value over the four criteria; values in [0, 1]",
            "weights": settings.phase2_weights.model_dump(by_alias=True),
        },
    }
