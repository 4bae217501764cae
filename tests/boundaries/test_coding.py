"""Reading order of label points and allocation of free sequence numbers."""

import pytest

from boundaries.coding import next_free_sequence, reading_order


def test_no_points():
    assert reading_order([]) == []


def test_single_point():
    assert reading_order([(116.4, 39.9)]) == [0]


def test_two_rows_read_north_to_south_and_west_to_east():
    # Index:     0        1        2        3         4        5
    points = [(2, 0), (0, 10), (1, 0), (2, 10), (0, 0.2), (1, 9.7)]
    assert reading_order(points, row_height=5) == [1, 5, 3, 4, 2, 0]
    assert reading_order(points) == [1, 5, 3, 4, 2, 0]


def test_ragged_rows_keep_together():
    # Three rows 100 m apart, cells about 100 m wide, label points jittered by up to 30 m.
    north = [(0, 220), (105, 190), (190, 225), (310, 195)]
    middle = [(10, 95), (95, 125), (200, 88), (290, 110)]
    south = [(40, -20), (160, 15)]
    points = south + middle + north
    order = reading_order(points)
    assert [points[i] for i in order] == north + middle + south


def test_row_is_banded_from_its_northernmost_point():
    # A staircase 0.6 apart: the top point takes the next one (0.6 < 1) but not the third (1.2).
    points = [(3, -1.8), (0, 0.0), (2, -1.2), (1, -0.6)]
    assert reading_order(points, row_height=1.0) == [1, 3, 2, 0]


def test_zero_row_height_orders_by_latitude_alone():
    points = [(0, 1), (5, 3), (9, 2)]
    assert reading_order(points, row_height=0) == [1, 2, 0]


def test_ties_break_by_x_then_north_first_then_index():
    points = [(1, 0), (0, 0), (1, 0), (1, 0.5), (0, 0)]
    # One row (default height); x first, at equal x the northern point, then the lower index.
    assert reading_order(points, row_height=2) == [1, 4, 3, 0, 2]


def test_identical_points_keep_their_index_order():
    assert reading_order([(5, 5)] * 4) == [0, 1, 2, 3]


def test_order_is_a_permutation_and_does_not_depend_on_input_order():
    points = [(x * 97 % 13, (x * 31 % 7) * 10.0) for x in range(40)]
    order = reading_order(points)
    assert sorted(order) == list(range(len(points)))
    reversed_points = points[::-1]
    reversed_order = reading_order(reversed_points)
    assert [points[i] for i in order] == [reversed_points[i] for i in reversed_order]


def test_negative_row_height_is_rejected():
    with pytest.raises(ValueError, match="row_height"):
        reading_order([(0, 0), (1, 1)], row_height=-1)


def test_next_free_sequence_starts_at_one():
    assert next_free_sequence([]) == 1


def test_next_free_sequence_fills_the_first_gap():
    assert next_free_sequence([1, 2, 4, 5]) == 3
    assert next_free_sequence(iter([2, 3])) == 1
    assert next_free_sequence({1, 2, 3}) == 4


def test_next_free_sequence_respects_start_and_ignores_numbers_outside_the_range():
    assert next_free_sequence([0, 5, 6, 1000], start=5) == 7


def test_next_free_sequence_exhausted():
    with pytest.raises(ValueError, match="no free sequence number"):
        next_free_sequence(range(1, 1000))
    with pytest.raises(ValueError, match="1..99"):
        next_free_sequence(range(1, 100), stop=99)
    assert next_free_sequence(range(1, 999)) == 999


def test_next_free_sequence_empty_range():
    with pytest.raises(ValueError, match="empty sequence range"):
        next_free_sequence([], start=10, stop=9)
