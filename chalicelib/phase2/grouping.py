"""Feature requests and usability feedback grouped into candidate Phase 2 items. Pure: no I/O.

How two titles are judged alike (also in docs/phase2.md):
1. A title becomes its *signature*: Unicode-normalised (NFKC) and case-folded, redaction markers
   ("[REDACTED:phone]") dropped, split into runs of letters and digits; one-character tokens,
   English function words and request boilerplate ("please", "add", "ability", ...) dropped; each
   remaining word reduced to its Snowball (Porter 2) English stem, so "reminders" and "reminder",
   "scheduling" and "schedules" meet. The signature is the set of those stems.
2. Two signatures are alike when their Jaccard similarity (shared stems / all stems) reaches the
   threshold (PHASE2_SIMILARITY_THRESHOLD, default 0.5).
3. Titles group only within one feature area. Identical signatures always share a group. The
   distinct signatures of an area are taken most-asked first (ties: the sorted stems), and each
   joins the existing group whose seed (the signature that opened it) it is most alike, if that
   reaches the threshold, or opens a new group. Comparing with the seed, not with every member,
   keeps a chain of small steps from drifting into one group of unrelated titles.
A title with no signature left (all boilerplate or redacted) groups only with the same title.

Everything is deterministic: no randomness, and every order is broken by a stated key.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[^\W_]+")
_REDACTION = re.compile(r"\[REDACTED:[a-z]+\]", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

# English function words, and the words a request is phrased with rather than what it asks for.
STOP_WORDS = frozenset(
    """
    a about above after again all also am an and any are as at be been before being below between
    both but by can cannot could did do does doing down during each else etc even ever every few for
    from further had has have having he her here hers him his how i if in into is it its itself just
    let lets me more most my no nor not now of off on once only or other our ours out over own same
    she should so some such than that the their theirs them then there these they this those through
    to too under until up upon us very via was we were what when where which while who whom why will
    with within without would you your yours
    ability able add added adding allow allowed allowing allows could feature features get getting
    good great hope idea improve improved improvement improvements like love make maybe need needed
    needs nice option please possibility possible really request requested requesting requests
    should support supported thanks wish want wanted wants way ways
    """.split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer  # imported on first use: only the Phase 2 plan needs it

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=16384)
def _stem(word: str) -> str:
    # Titles share a small vocabulary, and the pure-Python stemmer costs about 0.2 ms a word.
    return _stemmer().stemWord(word)


def signature(title: str) -> frozenset[str]:
    """The set of stems a title is compared by (see the module docstring)."""
    text = _REDACTION.sub(" ", unicodedata.normalize("NFKC", title)).casefold()
    return frozenset(_stem(w) for w in _WORD.findall(text) if len(w) > 1 and w not in STOP_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0 when both are empty (an empty signature is like nothing)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def folded(title: str) -> str:
    """A title as compared for "the same title": NFKC, case-folded, spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", title)).strip().casefold()


@dataclass(frozen=True)
class Request:
    """One feedback item as the plan sees it."""

    id: str
    created_at: str
    feature_area: str
    category: str
    title: str
    user_id: str
    workspace_id: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Request:
        return cls(
            id=record["id"],
            created_at=record["createdAt"],
            feature_area=record.get("featureArea") or "general",
            category=record.get("category") or "feature_request",
            title=record.get("title") or "",
            user_id=record.get("userId") or "",
            workspace_id=record.get("workspaceId") or "",
        )


@dataclass
class Group:
    feature_area: str
    seed: frozenset[str]
    members: list[Request] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The representative title: the most frequent title of the group (compared folded); ties go
        to the one asked first, then to the alphabetically first. Shown as first written."""
        return representative(self.members)

    def other_titles(self, limit: int) -> list[str]:
        """Other distinct titles of the group, most frequent first (then alphabetical), at most `limit`."""
        counts = Counter(folded(m.title) for m in self.members)
        first_written: dict[str, str] = {}
        for member in sorted(self.members, key=lambda m: (m.created_at, m.id)):
            first_written.setdefault(folded(member.title), member.title)
        main = folded(self.title)
        ordered = sorted((key for key in counts if key != main), key=lambda key: (-counts[key], key))
        return [first_written[key] for key in ordered[:limit]]

    def evidence(self, ids_max: int) -> dict[str, Any]:
        """Who asked and when: the newest `ids_max` feedback ids, and the counts over all members."""
        newest_first = sorted(self.members, key=lambda m: (m.created_at, m.id), reverse=True)
        return {
            "feedbackIds": [m.id for m in newest_first[:ids_max]],
            "feedbackIdsTruncated": len(newest_first) > ids_max,
            "count": len(self.members),
            "workspaces": len({m.workspace_id for m in self.members}),
            "users": len({(m.workspace_id, m.user_id) for m in self.members}),
            "categories": dict(sorted(Counter(m.category for m in self.members).items())),
            "firstAsked": newest_first[-1].created_at,
            "lastAsked": newest_first[0].created_at,
        }


def representative(members: list[Request]) -> str:
    counts = Counter(folded(m.title) for m in members)
    first: dict[str, Request] = {}
    for member in sorted(members, key=lambda m: (m.created_at, m.id)):
        first.setdefault(folded(member.title), member)
    best = min(counts, key=lambda key: (-counts[key], first[key].created_at, key))
    return first[best].title


def _key(title: str) -> frozenset[str]:
    """The signature, or for a title with none, a key only the same title shares."""
    return signature(title) or frozenset({"\x00" + folded(title)})


def group_requests(requests: Iterable[Request], threshold: float) -> list[Group]:
    """Groups of alike titles per feature area (see the module docstring), areas in name order,
    groups in the order they were opened."""
    by_area: dict[str, dict[frozenset[str], list[Request]]] = {}
    for request in requests:
        by_area.setdefault(request.feature_area, {}).setdefault(_key(request.title), []).append(request)

    out: list[Group] = []
    for area in sorted(by_area):
        phrasings = sorted(by_area[area].items(), key=lambda kv: (-len(kv[1]), sorted(kv[0])))
        groups: list[Group] = []
        # stem -> groups whose seed holds it: only those can reach a similarity above zero.
        holding: dict[str, list[int]] = {}
        for key, members in phrasings:
            best, best_similarity = None, 0.0
            for n in sorted({n for stem in key for n in holding.get(stem, ())}):
                similarity = jaccard(key, groups[n].seed)
                if similarity > best_similarity:
                    best, best_similarity = n, similarity
            if best is not None and best_similarity >= threshold:
                groups[best].members.extend(members)
                continue
            for stem in key:
                holding.setdefault(stem, []).append(len(groups))
            groups.append(Group(area, key, list(members)))
        out.extend(groups)
    return out
