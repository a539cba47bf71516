"""The stored form of an Idempotency-Key: scoped to the route and the caller, unforgeable by any sub."""

from __future__ import annotations

import pytest

from chalicelib.store.health import ingest_key
from chalicelib.store.idempotency import scoped_key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("a#b", "c"), ("a", "b#c")),  # the old "sub#key" collision
        (('a","b', "c"), ("a", 'b","c')),  # JSON-looking parts
        (("a\\", "b"), ("a", "\\b")),
        (("", "ab"), ("a", "b")),
    ],
)
def test_different_callers_never_share_a_key(one, other):
    assert scoped_key(*one) != scoped_key(*other)


def test_the_key_is_a_fixed_size_digest_that_stores_neither_part():
    key = scoped_key("user-7", "retry-42")
    assert len(key) == 64 and int(key, 16) >= 0
    assert "user-7" not in key and "retry-42" not in key
    assert scoped_key("user-7", "retry-42") == key  # stable across calls and processes


def test_routes_sharing_the_table_are_kept_apart():
    assert ingest_key("user-7", "k") != scoped_key("user-7", "k")
    assert ingest_key("user-7", "k") == scoped_key("user-7", "k", scope="metrics")
