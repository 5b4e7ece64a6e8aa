"""Dimension rows known to be committed are not sent again; a product's smaller slug still is."""

from __future__ import annotations

from pulse.model.star import DIMENSIONS, StarBatch
from pulse.warehouse.dimensions import KnownDimensions


def _batch(products: dict[int, tuple[object, ...]], stores: dict[int, tuple[object, ...]]) -> StarBatch:
    batch = StarBatch()
    batch.dims["dim_product"].update(products)
    batch.dims["dim_store"].update(stores)
    return batch


def test_rows_remembered_after_a_commit_are_not_pending_again() -> None:
    known = KnownDimensions()
    first = _batch({1: (1, "p1", "ring-b")}, {7: (7, "7")})
    pending = known.pending(first)
    assert pending["dim_product"] == [(1, "p1", "ring-b")] and pending["dim_store"] == [(7, "7")]
    assert set(pending) == set(DIMENSIONS)
    known.remember(pending)
    assert all(rows == [] for rows in known.pending(first).values())


def test_a_smaller_slug_of_a_known_product_is_pending_a_larger_one_is_not() -> None:
    known = KnownDimensions()
    known.remember(known.pending(_batch({1: (1, "p1", "ring-b")}, {})))
    assert known.pending(_batch({1: (1, "p1", "ring-a")}, {}))["dim_product"] == [(1, "p1", "ring-a")]
    assert known.pending(_batch({1: (1, "p1", "ring-c")}, {}))["dim_product"] == []
    assert known.pending(_batch({1: (1, "p1", None)}, {}))["dim_product"] == []
