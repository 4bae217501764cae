"""Sequence numbering of sibling units: reading order of label points and free sequence numbers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

# Brute-force nearest neighbours are computed in blocks of this many rows to bound memory (block x n floats).
_NEIGHBOUR_BLOCK = 1024


def reading_order(points: Sequence[tuple[float, float]], *, row_height: float | None = None) -> list[int]:
    """
    Indices of `points` (x east, y north) in reading order: rows from north to south, west to east in a row.

    Rows are banded greedily from the top: the northernmost remaining point opens a row that takes every
    remaining point less than `row_height` below it. Inside a row points go by x, then from north to south,
    then by index, so equal coordinates still give one deterministic order.
    """
    coords = [(float(x), float(y)) for x, y in points]
    if not coords:
        return []
    if row_height is None:
        row_height = _default_row_height(coords)
    elif not math.isfinite(row_height) or row_height < 0:
        raise ValueError(f"row_height must be a finite number >= 0, got {row_height!r}")

    # North first; among points at the same height the western one opens the row.
    by_height = sorted(range(len(coords)), key=lambda i: (-coords[i][1], coords[i][0], i))
    order: list[int] = []
    start = 0
    while start < len(by_height):
        top = coords[by_height[start]][1]
        end = start + 1
        while end < len(by_height) and top - coords[by_height[end]][1] < row_height:
            end += 1
        row = by_height[start:end]
        order.extend(sorted(row, key=lambda i: (coords[i][0], -coords[i][1], i)))
        start = end
    return order


def _default_row_height(coords: list[tuple[float, float]]) -> float:
    # Half the median nearest-neighbour distance. Units of one level are roughly the same size, so their
    # label points sit about one spacing apart both along and across rows; half of it keeps a jittered row
    # together without swallowing the next one. The usual 0.5 * sqrt(bbox_area / n) overestimates the
    # spacing for ragged or concave layouts (empty corners of the bbox), and the y-gaps between sorted
    # points collapse to ~0 as soon as a row is jittered, so neither is used.
    if len(coords) < 2:
        return 0.0
    xy = np.asarray(coords, dtype=float)
    nearest = np.empty(len(xy))
    for first in range(0, len(xy), _NEIGHBOUR_BLOCK):
        block = xy[first : first + _NEIGHBOUR_BLOCK]
        distances = np.hypot(block[:, None, 0] - xy[None, :, 0], block[:, None, 1] - xy[None, :, 1])
        distances[np.arange(len(block)), np.arange(first, first + len(block))] = np.inf
        nearest[first : first + len(block)] = distances.min(axis=1)
    return 0.5 * float(np.median(nearest))


def next_free_sequence(used: Iterable[int], *, start: int = 1, stop: int = 999) -> int:
    """The smallest sequence number in [start, stop] not in `used`; ValueError when all of them are taken."""
    if start > stop:
        raise ValueError(f"empty sequence range: start {start} > stop {stop}")
    taken = set(used)
    for sequence in range(start, stop + 1):
        if sequence not in taken:
            return sequence
    raise ValueError(f"no free sequence number left: all of {start}..{stop} are in use")
