"""Grouping of feature requests: title signatures, their similarity, groups per feature area, the
representative title and the evidence, all deterministic."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.phase2.grouping import Request, group_requests, jaccard, representative, signature

THRESHOLD = 0.5


def req(n: int, title: str, area: str = "reminders", ws: str = "ws-1", user: str = "u-1", **kw) -> Request:
    values = {
        "id": f"fb-{n:03d}",
        "created_at": f"2025-10-{1 + n % 28:02d}T09:00:{n % 60:02d}.000000Z",
        "feature_area": area,
        "category": "feature_request",
        "title": title,
        "user_id": user,
        "workspace_id": ws,
    }
    return Request(**(values | kw))


def titles(groups) -> list[list[str]]:
    return [sorted(m.title for m in g.members) for g in groups]


@pytest.mark.parametrize(
    ("title", "stems"),
    [
        ("SMS reminders", {"sms", "remind"}),
        ("Please add an SMS reminder!", {"sms", "remind"}),  # boilerplate, article and plural go
        ("Send reminders by SMS", {"send", "remind", "sms"}),
        ("  EXPORT   Reports to PDF ", {"export", "report", "pdf"}),
        ("Scheduling of recurring appointments", {"schedul", "recur", "appoint"}),
        ("Call me at [REDACTED:phone] about exports", {"call", "export"}),  # the marker is not a word
        ("Ｄａｒｋ mode", {"dark", "mode"}),  # full-width letters: NFKC
        ("Please add this feature", set()),
    ],
)
def test_signature_keeps_the_words_that_say_what_is_asked(title, stems):
    assert signature(title) == frozenset(stems)


def test_jaccard():
    assert jaccard(frozenset({"sms", "remind"}), frozenset({"send", "remind", "sms"})) == pytest.approx(2 / 3)
    assert jaccard(frozenset({"sms", "remind"}), frozenset({"email", "remind"})) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0
    assert jaccard(frozenset({"a"}), frozenset({"a"})) == 1.0


def test_alike_titles_group_and_unlike_ones_do_not():
    # Given three phrasings of SMS reminders, one of email reminders and one unrelated request
    requests = [
        req(1, "SMS reminders"),
        req(2, "Please add SMS reminder"),
        req(3, "Send reminders by SMS"),
        req(4, "Email reminders"),
        req(5, "Dark mode for the reminder screen"),
    ]
    # When grouped at the default threshold
    groups = group_requests(requests, THRESHOLD)
    # Then the SMS phrasings share one group (2/3 and 1 >= 0.5); email (1/3) and dark mode stand
    # alone (groups in the order they opened: most-asked phrasing first, then by sorted stems)
    assert titles(groups) == [
        ["Please add SMS reminder", "SMS reminders", "Send reminders by SMS"],
        ["Dark mode for the reminder screen"],
        ["Email reminders"],
    ]


def test_the_threshold_decides():
    requests = [req(1, "SMS reminders"), req(2, "Send reminders by SMS")]  # similarity 2/3
    assert len(group_requests(requests, 0.66)) == 1
    assert len(group_requests(requests, 0.67)) == 2


def test_groups_never_cross_feature_areas():
    # Given the same title in two feature areas
    requests = [req(1, "Export to PDF", area="analytics"), req(2, "Export to PDF", area="appointments")]
    # Then they are two groups, areas in name order
    groups = group_requests(requests, THRESHOLD)
    assert [(g.feature_area, len(g.members)) for g in groups] == [("analytics", 1), ("appointments", 1)]


def test_titles_without_a_signature_group_only_with_the_same_title():
    requests = [req(1, "Please add this"), req(2, "please  ADD this"), req(3, "Please add it")]
    assert titles(group_requests(requests, THRESHOLD)) == [
        ["Please add this", "please  ADD this"],
        ["Please add it"],
    ]


def test_no_chaining_through_small_steps():
    # Given A ~ B and B ~ C (2/4 each), but A and C share only one stem of five
    a, b, c = "reminder sms text", "reminder sms email", "reminder email push"
    assert jaccard(signature(a), signature(b)) == jaccard(signature(b), signature(c)) == THRESHOLD
    assert jaccard(signature(a), signature(c)) < THRESHOLD
    requests = [req(1, a), req(2, a), req(3, b), req(4, c)]
    # When grouped: A is most asked, so it seeds the first group
    groups = group_requests(requests, THRESHOLD)
    # Then B joins A's group, and C, compared with the seed A rather than with B, opens its own
    assert titles(groups) == [sorted([a, a, b]), [c]]


def test_grouping_does_not_depend_on_input_order():
    requests = [
        req(1, "SMS reminders", ws="ws-1"),
        req(2, "Send reminders by SMS", ws="ws-2"),
        req(3, "Email reminders", ws="ws-3"),
        req(4, "Reminder emails", ws="ws-1"),
        req(5, "Export to PDF", area="analytics"),
        req(6, "PDF export", area="analytics"),
        req(7, "Export to Excel", area="analytics"),
    ]
    expected = [
        (g.feature_area, g.title, sorted(m.id for m in g.members)) for g in group_requests(requests, 0.5)
    ]
    for order in itertools.permutations(requests):
        got = [(g.feature_area, g.title, sorted(m.id for m in g.members)) for g in group_requests(order, 0.5)]
        assert got == expected


def test_representative_is_the_most_frequent_title_then_the_first_asked():
    members = [
        req(5, "SMS reminders"),
        req(1, "Send reminders by SMS"),
        req(6, "sms  REMINDERS"),
        req(2, "Text reminders by SMS"),
    ]
    # "sms reminders" twice (folded) beats the others; shown as first written (item 5 before 6)
    assert representative(members) == "SMS reminders"
    # A tie between two single titles goes to the one asked first
    assert representative([req(9, "Later title"), req(3, "Earlier title")]) == "Earlier title"


def test_evidence_counts_distinct_workspaces_and_users_and_bounds_the_ids():
    # Given five requests: workspace A's user asks three times, B's two users once each
    members = [
        req(1, "SMS reminders", ws="A", user="u1"),
        req(2, "SMS reminders", ws="A", user="u1"),
        req(3, "SMS reminders", ws="A", user="u1", category="usability_issue"),
        req(4, "SMS reminders", ws="B", user="u2"),
        req(5, "SMS reminders", ws="B", user="u3"),
    ]
    [group] = group_requests(members, THRESHOLD)
    # When its evidence is listed with at most 2 ids
    evidence = group.evidence(2)
    # Then the counts cover all five, the ids are the newest two
    assert evidence == {
        "feedbackIds": ["fb-005", "fb-004"],
        "feedbackIdsTruncated": True,
        "count": 5,
        "workspaces": 2,
        "users": 3,
        "categories": {"feature_request": 4, "usability_issue": 1},
        "firstAsked": "2025-10-02T09:00:01.000000Z",
        "lastAsked": "2025-10-06T09:00:05.000000Z",
    }


def test_the_same_user_id_in_two_workspaces_is_two_users():
    members = [req(1, "SMS reminders", ws="A", user="u1"), req(2, "SMS reminders", ws="B", user="u1")]
    assert group_requests(members, THRESHOLD)[0].evidence(10)["users"] == 2


def test_other_titles_are_the_distinct_phrasings_most_frequent_first():
    members = [
        req(1, "SMS reminders"),
        req(2, "SMS reminders"),
        req(3, "Send reminders by SMS"),
        req(4, "SMS reminder please"),
        req(5, "SMS reminder please"),
        req(6, "sms reminders"),
    ]
    [group] = group_requests(members, THRESHOLD)
    assert group.title == "SMS reminders"
    assert group.other_titles(5) == ["SMS reminder please", "Send reminders by SMS"]
    assert group.other_titles(1) == ["SMS reminder please"]
