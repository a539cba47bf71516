"""The prioritization framework's arithmetic, its configuration (validated), and the ranking order."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from chalicelib.config import Settings
from chalicelib.phase2.scoring import rank_key, rating_value, saturation, score


def evidence(workspaces: int, users: int, count: int, ids: tuple[str, ...] = ("fb-1",)) -> dict:
    return {"workspaces": workspaces, "users": users, "count": count, "feedbackIds": list(ids)}


def test_saturation_is_logarithmic_and_capped():
    assert saturation(0, 10) == 0.0
    assert saturation(1, 10) == pytest.approx(math.log(2) / math.log(11))
    assert saturation(10, 10) == 1.0
    assert saturation(500, 10) == 1.0
    # Diminishing returns: the second asker adds more than the tenth
    assert saturation(2, 10) - saturation(1, 10) > saturation(10, 10) - saturation(9, 10)


def test_ratings_map_one_to_five_onto_zero_to_one():
    assert [rating_value(r) for r in (1, 2, 3, 4, 5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_score_with_the_defaults_shows_every_input():
    # Given the default settings (weights .4/.25/.2/.15, neutral ratings)
    # and 3 workspaces, 4 users, 6 requests
    settings = Settings()
    total, components = score("reminders", evidence(3, 4, 6), settings)
    # Then user impact blends the three saturations with .5/.35/.15
    impact = (
        0.5 * math.log(4) / math.log(11)
        + 0.35 * math.log(5) / math.log(26)
        + 0.15 * math.log(7) / math.log(51)
    )
    assert components["userImpact"]["value"] == pytest.approx(impact, abs=1e-4)
    assert components["userImpact"]["inputs"] == {
        "workspaces": {
            "count": 3,
            "reference": 10,
            "weight": 0.5,
            "value": round(math.log(4) / math.log(11), 4),
        },
        "users": {"count": 4, "reference": 25, "weight": 0.35, "value": round(math.log(5) / math.log(26), 4)},
        "requests": {
            "count": 6,
            "reference": 50,
            "weight": 0.15,
            "value": round(math.log(7) / math.log(51), 4),
        },
    }
    # And the area criteria take the neutral rating 3, i.e. 0.5, marked as defaults
    for name in ("businessValue", "technicalFeasibility", "strategicAlignment"):
        assert components[name]["value"] == 0.5
        assert components[name]["inputs"] == {"rating": 3, "scale": "1-5", "source": "default"}
    assert [components[c]["weight"] for c in components] == [0.4, 0.25, 0.2, 0.15]
    # And the score is 100 x the weighted sum; each contribution is its share in points
    assert total == round(100 * (0.4 * impact + 0.6 * 0.5), 2)
    assert components["businessValue"]["contribution"] == 12.5
    assert sum(c["contribution"] for c in components.values()) == pytest.approx(total, abs=0.02)


def test_area_inputs_and_weights_come_from_config():
    # Given reminders rated by product, and weights that favour business value
    settings = Settings.from_env(
        {
            "PHASE2_WEIGHTS": '{"userImpact": 0.2, "businessValue": 0.5, "technicalFeasibility": 0.2,'
            ' "strategicAlignment": 0.1}',
            "PHASE2_AREA_INPUTS": '{"reminders": {"businessValue": 5, "technicalFeasibility": 2}}',
            "PHASE2_DEFAULT_RATING": "1",
        }
    )
    total, components = score("reminders", evidence(10, 25, 50), settings)
    # Then the given ratings are used, the missing one takes PHASE2_DEFAULT_RATING
    assert components["businessValue"]["inputs"] == {"rating": 5, "scale": "1-5", "source": "config"}
    assert components["technicalFeasibility"]["inputs"]["rating"] == 2
    assert components["strategicAlignment"]["inputs"] == {"rating": 1, "scale": "1-5", "source": "default"}
    # And full user impact (every reference reached): 100 x (.2x1 + .5x1 + .2x.25 + .1x0)
    assert components["userImpact"]["value"] == 1.0
    assert total == 75.0
    # And another area, not configured, is all defaults
    _, other = score("analytics", evidence(1, 1, 1), settings)
    assert other["businessValue"]["inputs"]["source"] == "default"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PHASE2_WEIGHTS": '{"userImpact": 0.5}'}, "must sum to 1"),
        ({"PHASE2_WEIGHTS": '{"userImpact": 1.5, "businessValue": -0.5}'}, "less than or equal to 1"),
        ({"PHASE2_WEIGHTS": '{"impact": 1}'}, "Extra inputs are not permitted"),
        ({"PHASE2_WEIGHTS": "not json"}, "not valid JSON"),
        ({"PHASE2_IMPACT_WEIGHTS": '{"workspaces": 1}'}, "must sum to 1"),
        ({"PHASE2_IMPACT_REFERENCE": '{"users": 0}'}, "greater than or equal to 1"),
        ({"PHASE2_AREA_INPUTS": '{"billing": {"businessValue": 3}}'}, "Input should be 'appointments'"),
        ({"PHASE2_AREA_INPUTS": '{"reminders": {"businessValue": 6}}'}, "less than or equal to 5"),
        ({"PHASE2_AREA_INPUTS": '{"reminders": {"value": 3}}'}, "Extra inputs are not permitted"),
        ({"PHASE2_SIMILARITY_THRESHOLD": "0"}, "greater than 0"),
        ({"PHASE2_DEFAULT_DAYS": "400"}, "PHASE2_DEFAULT_DAYS must not exceed PHASE2_MAX_DAYS"),
    ],
)
def test_bad_configuration_is_refused_at_start(env, message):
    with pytest.raises(ValidationError, match=message):
        Settings.from_env(env)


def test_weights_within_rounding_of_one_are_accepted():
    settings = Settings.from_env(
        {
            "PHASE2_WEIGHTS": '{"userImpact": 0.7, "businessValue": 0.1, "technicalFeasibility": 0.1,'
            ' "strategicAlignment": 0.1}'
        }
    )
    assert 0.7 + 0.1 + 0.1 + 0.1 != 1  # in floating point
    assert settings.phase2_weights.user_impact == 0.7


def test_ranking_breaks_ties_by_workspaces_users_requests_then_names():
    def item(area, title, score_, ws, users, count, first_id):
        return {
            "featureArea": area,
            "title": title,
            "score": score_,
            "evidence": evidence(ws, users, count, (first_id,)),
        }

    items = [
        item("reminders", "B", 50.0, 2, 2, 2, "fb-9"),
        item("reminders", "A", 50.0, 2, 2, 2, "fb-8"),  # same figures: title decides
        item("analytics", "Z", 50.0, 2, 2, 2, "fb-7"),  # ... after the feature area
        item("reminders", "C", 50.0, 2, 2, 5, "fb-6"),  # more requests
        item("reminders", "D", 50.0, 2, 3, 1, "fb-5"),  # more users
        item("reminders", "E", 50.0, 3, 1, 1, "fb-4"),  # more workspaces
        item("reminders", "F", 50.01, 1, 1, 1, "fb-3"),  # a higher score beats everything
    ]
    assert [i["title"] for i in sorted(items, key=rank_key)] == ["F", "E", "D", "C", "Z", "A", "B"]
