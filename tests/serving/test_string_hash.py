"""The numpy string hash the A/B report counts keys and finds repeated outcomes with."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.serving import ab_read
from lamina.serving.string_hash import NULL_HASH, hash_strings

texts = st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_equal_strings_hash_equal_and_distinct_ones_apart(values: list[str | None]) -> None:
    hashes = hash_strings(pa.array(values, pa.string()))
    assert hashes.dtype == np.int64 and len(hashes) == len(values)
    by_hash: dict[int, str | None] = {}
    for value, h in zip(values, hashes.tolist(), strict=True):
        assert by_hash.setdefault(h, value) == value  # no two distinct strings share one
        if value is None:
            assert h == NULL_HASH


@settings(max_examples=100, deadline=None)
@given(texts, st.integers(0, 60), st.integers(0, 60))
def test_the_hash_of_a_value_does_not_depend_on_its_array(values: list[str | None], a: int,
                                                          b: int) -> None:
    arr = pa.array(values, pa.string())
    whole = hash_strings(arr)
    lo, hi = min(a, b, len(values)), min(max(a, b), len(values))
    assert (hash_strings(arr.slice(lo, hi - lo)) == whole[lo:hi]).all()
    chunked = pa.chunked_array([arr.slice(0, lo), arr.slice(lo)], pa.string())
    assert (hash_strings(chunked) == whole).all()
    assert (hash_strings(arr.cast(pa.large_string())) == whole).all()
    assert (hash_strings(arr.dictionary_encode()) == whole).all()


def test_an_empty_string_is_not_a_null_and_trailing_bytes_count() -> None:
    empty, null = hash_strings(pa.array(["", None])).tolist()
    assert null == NULL_HASH and empty != NULL_HASH
    # strings that differ only past the first 8-byte word, or only in length
    hashes = hash_strings(pa.array(["a" * 9, "a" * 8 + "b", "a" * 8, "a" * 16, "a" * 17])).tolist()
    assert len(set(hashes)) == 5


def test_repeated_outcomes_are_found_exactly_even_when_every_hash_collides(monkeypatch) -> None:
    ids = pa.chunked_array([pa.array(["r1", "r2", "r1", "r3", "r2", "r1"])])
    ts = np.array([5, 1, 9, 2, 0, 7])
    # the latest of each request: r1 at 9 (row 2), r2 at 1 (row 1), r3 (row 3)
    expected = [False, True, True, True, False, False]
    assert ab_read._latest_per_request(ids, ts).tolist() == expected
    import lamina.serving.string_hash as string_hash

    monkeypatch.setattr(string_hash, "hash_strings", lambda values: np.zeros(len(values), np.int64))
    assert ab_read._latest_per_request(ids, ts).tolist() == expected
    distinct = pa.chunked_array([pa.array(["x", "y", "z"])])
    assert ab_read._latest_per_request(distinct, np.arange(3)).all()


@pytest.mark.parametrize("values", [[], [None, None]])
def test_empty_and_all_null_arrays(values: list) -> None:
    assert hash_strings(pa.array(values, pa.string())).tolist() == [NULL_HASH] * len(values)


def test_long_arrays_hash_block_by_block_alike() -> None:
    n = 700_000  # more than two blocks, so equal strings land in different blocks
    values = pa.array([None if i % 1001 == 0 else f"key-{i % 1000}" for i in range(n)])
    hashes = hash_strings(values)
    small = hash_strings(pa.array([f"key-{i}" for i in range(1000)]))
    rows = np.arange(n)
    keyed = rows % 1001 != 0
    assert (hashes[keyed] == small[rows[keyed] % 1000]).all()
    assert (hashes[~keyed] == NULL_HASH).all()
