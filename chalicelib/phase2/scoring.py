"""The seed's prioritization framework, made arithmetic. Pure: no I/O.

score = 100 × Σ weight_c × value_c over the four criteria c (PHASE2_WEIGHTS, summing to 1), each
value in [0, 1] (docs/phase2.md, "Scoring"):
- userImpact: from the group's evidence, Σ impactWeight_k × saturation(n_k, reference_k) over
  k = distinct workspaces, distinct users, requests, where saturation(n, r) = min(1, ln(1+n)/ln(1+r)):
  the first askers count most, and reaching the reference count is full impact.
- businessValue, technicalFeasibility, strategicAlignment: the feature area's rating on 1-5
  (PHASE2_AREA_INPUTS; PHASE2_DEFAULT_RATING when not given), as (rating − 1) / 4.
Ranking: score (as shown, two decimals) high to low; ties go to more workspaces, then more users,
then more requests, then feature area, title and first feedback id in alphabetical order.
"""

from __future__ import annotations

import math
from typing import Any

from chalicelib.config import Settings

CRITERIA = ("userImpact", "businessValue", "technicalFeasibility", "strategicAlignment")
AREA_CRITERIA = ("businessValue", "technicalFeasibility", "strategicAlignment")
IMPACT_PARTS = ("workspaces", "users", "requests")
RATING_SCALE = (1, 5)


def saturation(count: int, reference: int) -> float:
    """ln(1+count) / ln(1+reference), at most 1: 0 for nobody, 1 from `reference` on."""
    if count <= 0:
        return 0.0
    return min(1.0, math.log1p(count) / math.log1p(reference))


def rating_value(rating: float) -> float:
    low, high = RATING_SCALE
    return (rating - low) / (high - low)


def user_impact(evidence: dict[str, Any], settings: Settings) -> tuple[float, dict[str, Any]]:
    """The value and its inputs: each part's count, reference, weight and saturation."""
    weights = settings.phase2_impact_weights.model_dump(by_alias=True)
    references = settings.phase2_impact_reference.model_dump(by_alias=True)
    counts = {"workspaces": evidence["workspaces"], "users": evidence["users"], "requests": evidence["count"]}
    inputs: dict[str, Any] = {}
    value = 0.0
    for part in IMPACT_PARTS:
        part_value = saturation(counts[part], references[part])
        value += weights[part] * part_value
        inputs[part] = {
            "count": counts[part],
            "reference": references[part],
            "weight": weights[part],
            "value": round(part_value, 4),
        }
    return value, inputs


def area_rating(feature_area: str, criterion: str, settings: Settings) -> tuple[float, str]:
    """(rating, source): from PHASE2_AREA_INPUTS ("config") or PHASE2_DEFAULT_RATING ("default")."""
    given = settings.phase2_area_inputs.get(feature_area)
    rating = given.model_dump(by_alias=True).get(criterion) if given is not None else None
    if rating is None:
        return settings.phase2_default_rating, "default"
    return rating, "config"


def score(feature_area: str, evidence: dict[str, Any], settings: Settings) -> tuple[float, dict[str, Any]]:
    """(score 0-100, rounded to two decimals; components), each component with its value, weight,
    contribution to the score (points) and inputs."""
    weights = settings.phase2_weights.model_dump(by_alias=True)
    values: dict[str, float] = {}
    inputs: dict[str, dict[str, Any]] = {}
    values["userImpact"], inputs["userImpact"] = user_impact(evidence, settings)
    for criterion in AREA_CRITERIA:
        rating, source = area_rating(feature_area, criterion, settings)
        values[criterion] = rating_value(rating)
        inputs[criterion] = {"rating": rating, "scale": "1-5", "source": source}
    total = 100 * sum(weights[c] * values[c] for c in CRITERIA)
    components = {
        c: {
            "value": round(values[c], 4),
            "weight": weights[c],
            "contribution": round(100 * weights[c] * values[c], 2),
            "inputs": inputs[c],
        }
        for c in CRITERIA
    }
    return round(total, 2), components


def rank_key(item: dict[str, Any]) -> tuple:
    evidence = item["evidence"]
    return (
        -item["score"],
        -evidence["workspaces"],
        -evidence["users"],
        -evidence["count"],
        item["featureArea"],
        item["title"].casefold(),
        min(evidence["feedbackIds"]),
    )
