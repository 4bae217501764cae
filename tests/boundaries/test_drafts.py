"""Draft generations: edits on real geometries (holes, islands, shared edges), codes, undo, scope."""

import pytest
from shapely import wkb as shapely_wkb

from accounts.selectors import scope_for_user
from boundaries import drafts
from boundaries.models import GridUnit
from boundaries.selectors import generation_active, valid_at_q
from core.errors import ApiError

WEST_SOUTH = "110101001001"  # community: cells 001 (116.38-116.39) and 002 (116.39-116.40), y 39.90-39.92


def box(x0, y0, x1, y1) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def line(*points) -> dict:
    return {"type": "LineString", "coordinates": [list(p) for p in points]}


def shape(unit: GridUnit):
    return shapely_wkb.loads(bytes(unit.geom.wkb))


def units_at(generation, parent: str) -> dict[str, GridUnit]:
    return {u.code: u for u in GridUnit.objects.filter(valid_at_q(generation), parent_code=parent)}


@pytest.fixture
def planner(small_city, make_user):
    user = make_user("planner", units=["110101001"], username="planner-w")
    return {"user": user, "scope": scope_for_user(user)}


@pytest.fixture
def draft(planner):
    return drafts.draft_open(scope=planner["scope"], actor=planner["user"], description="调整西南社区")


def act(planner, function, draft, **kwargs):
    return function(scope=planner["scope"], actor=planner["user"], draft=draft, **kwargs)


def test_a_draft_starts_as_the_active_grid_and_only_one_is_open(planner, draft):
    active = generation_active()
    assert draft.pk > active.pk and not draft.active
    assert (
        set(units_at(draft, WEST_SOUTH))
        == set(units_at(active, WEST_SOUTH))
        == {f"{WEST_SOUTH}001", f"{WEST_SOUTH}002"}
    )
    with pytest.raises(ApiError) as error:
        drafts.draft_open(scope=planner["scope"], actor=planner["user"])
    assert error.value.status_code == 409


def test_only_planners_open_drafts(small_city, make_user):
    viewer = make_user("viewer", units=["110101001"])
    with pytest.raises(ApiError) as error:
        drafts.draft_open(scope=scope_for_user(viewer), actor=viewer)
    assert error.value.status_code == 403


def test_split_keeps_the_code_on_the_larger_piece_and_numbers_the_new_one(planner, draft):
    before = units_at(generation_active(), WEST_SOUTH)[f"{WEST_SOUTH}001"]
    edit = act(
        planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}001", line=line((116.386, 39.89), (116.386, 39.93))
    )
    assert edit.operation == "split" and edit.codes == [f"{WEST_SOUTH}001", f"{WEST_SOUTH}003"]
    after = units_at(draft, WEST_SOUTH)
    assert set(after) == {f"{WEST_SOUTH}001", f"{WEST_SOUTH}002", f"{WEST_SOUTH}003"}
    west, east = shape(after[f"{WEST_SOUTH}001"]), shape(after[f"{WEST_SOUTH}003"])
    assert west.bounds == pytest.approx((116.38, 39.90, 116.386, 39.92))
    assert east.bounds == pytest.approx((116.386, 39.90, 116.39, 39.92))
    assert west.union(east).symmetric_difference(shape(before)).area < 1e-12
    # The active grid is untouched; the unchanged neighbour is the same row in both.
    active = units_at(generation_active(), WEST_SOUTH)
    assert set(active) == {f"{WEST_SOUTH}001", f"{WEST_SOUTH}002"}
    assert shape(active[f"{WEST_SOUTH}001"]).equals(shape(before))
    assert active[f"{WEST_SOUTH}002"].pk == after[f"{WEST_SOUTH}002"].pk
    assert after[f"{WEST_SOUTH}003"].name == "西南社区第3网格"


def test_split_refuses_a_line_that_does_not_cross(planner, draft):
    with pytest.raises(ApiError) as error:
        act(
            planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}001", line=line((116.381, 39.901), (116.382, 39.902))
        )
    assert error.value.status_code == 400 and "line" in error.value.fields
    assert not draft.edits.exists()


def test_split_of_a_cell_with_a_hole(planner, draft):
    # West street, north community: cell 001 is a ring around cell 002.
    ring = "110101001002001"
    edit = act(planner, drafts.draft_split, draft, code=ring, line=line((116.39, 39.915), (116.39, 39.945)))
    pieces = units_at(draft, "110101001002")
    new = edit.codes[1]
    assert new == "110101001002003"
    total = shape(pieces[ring]).union(shape(pieces[new]))
    original = shape(units_at(generation_active(), "110101001002")[ring])
    assert total.symmetric_difference(original).area < 1e-12
    assert not shape(pieces[ring]).intersects(shape(pieces["110101001002002"]).buffer(-1e-9))


def test_merge_of_adjacent_cells_keeps_the_smaller_code(planner, draft):
    act(planner, drafts.draft_merge, draft, codes=[f"{WEST_SOUTH}002", f"{WEST_SOUTH}001"])
    after = units_at(draft, WEST_SOUTH)
    assert set(after) == {f"{WEST_SOUTH}001"}
    assert shape(after[f"{WEST_SOUTH}001"]).bounds == pytest.approx((116.38, 39.90, 116.40, 39.92))


def test_merge_refuses_units_of_different_parents(planner, make_user, draft):
    with pytest.raises(ApiError) as error:
        act(planner, drafts.draft_merge, draft, codes=[f"{WEST_SOUTH}001", "110101001002001"])
    assert error.value.status_code == 400


def test_reshape_snaps_to_the_neighbour_and_takes_area_from_it(planner, draft):
    # Drawn 1 m short of the shared edge at x = 116.39: snapped onto it, the neighbour keeps its shape.
    act(planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=box(116.38, 39.90, 116.38999, 39.92))
    after = units_at(draft, WEST_SOUTH)
    assert shape(after[f"{WEST_SOUTH}001"]).bounds == pytest.approx((116.38, 39.90, 116.39, 39.92))
    assert after[f"{WEST_SOUTH}002"].generation_low_id != draft.pk  # untouched
    # Moved 200 m east: the neighbour gives the strip up.
    edit = act(
        planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=box(116.38, 39.90, 116.392, 39.92)
    )
    assert edit.codes == [f"{WEST_SOUTH}001", f"{WEST_SOUTH}002"]
    after = units_at(draft, WEST_SOUTH)
    assert shape(after[f"{WEST_SOUTH}002"]).bounds == pytest.approx((116.392, 39.90, 116.40, 39.92))
    assert not shape(after[f"{WEST_SOUTH}001"]).overlaps(shape(after[f"{WEST_SOUTH}002"]))


def test_reshape_is_clipped_to_the_parent(planner, draft):
    act(planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=box(116.37, 39.89, 116.39, 39.92))
    assert shape(units_at(draft, WEST_SOUTH)[f"{WEST_SOUTH}001"]).bounds == pytest.approx(
        (116.38, 39.90, 116.39, 39.92)
    )


def test_create_takes_its_area_from_the_cells_it_covers(planner, draft):
    edit = act(planner, drafts.draft_create, draft, parent=WEST_SOUTH, geometry=box(116.383, 39.905, 116.387, 39.91))
    code = edit.codes[0]
    assert code == f"{WEST_SOUTH}003"
    after = units_at(draft, WEST_SOUTH)
    new, old = shape(after[code]), shape(after[f"{WEST_SOUTH}001"])
    assert new.area == pytest.approx(0.004 * 0.005)
    assert len(old.interiors if old.geom_type == "Polygon" else old.geoms[0].interiors) == 1  # a hole now
    assert new.intersection(old).area < 1e-12


def test_retired_codes_are_never_reused(planner, draft):
    act(planner, drafts.draft_retire, draft, code=f"{WEST_SOUTH}002", into=f"{WEST_SOUTH}001")
    assert set(units_at(draft, WEST_SOUTH)) == {f"{WEST_SOUTH}001"}
    edit = act(planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}001", line=line((116.39, 39.89), (116.39, 39.93)))
    assert edit.codes[1] == f"{WEST_SOUTH}003"  # 002 is retired, not free


def test_new_codes_follow_reading_order(planner, draft):
    # A line crossing cell 002 twice cuts three strips: the middle (largest) keeps the code, the new
    # ones are numbered north first.
    cut = line((116.389, 39.905), (116.401, 39.905), (116.401, 39.915), (116.389, 39.915))
    edit = act(planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}002", line=cut)
    assert edit.codes == [f"{WEST_SOUTH}002", f"{WEST_SOUTH}003", f"{WEST_SOUTH}004"]
    after = units_at(draft, WEST_SOUTH)
    assert shape(after[f"{WEST_SOUTH}002"]).bounds == pytest.approx((116.39, 39.905, 116.40, 39.915))
    assert shape(after[f"{WEST_SOUTH}003"]).bounds == pytest.approx((116.39, 39.915, 116.40, 39.92))
    assert shape(after[f"{WEST_SOUTH}004"]).bounds == pytest.approx((116.39, 39.90, 116.40, 39.905))


def test_undo_takes_back_each_edit_in_turn(planner, draft):
    active_rows = set(GridUnit.objects.filter(valid_at_q(draft)).values_list("pk", flat=True))
    act(planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}001", line=line((116.386, 39.89), (116.386, 39.93)))
    act(planner, drafts.draft_merge, draft, codes=[f"{WEST_SOUTH}003", f"{WEST_SOUTH}002"])
    assert set(units_at(draft, WEST_SOUTH)) == {f"{WEST_SOUTH}001", f"{WEST_SOUTH}002"}
    drafts.draft_undo(scope=planner["scope"], actor=planner["user"], draft=draft)
    assert set(units_at(draft, WEST_SOUTH)) == {f"{WEST_SOUTH}001", f"{WEST_SOUTH}002", f"{WEST_SOUTH}003"}
    drafts.draft_undo(scope=planner["scope"], actor=planner["user"], draft=draft)
    assert set(GridUnit.objects.filter(valid_at_q(draft)).values_list("pk", flat=True)) == active_rows
    with pytest.raises(ApiError) as error:
        drafts.draft_undo(scope=planner["scope"], actor=planner["user"], draft=draft)
    assert error.value.status_code == 409


def test_a_planner_edits_only_inside_the_jurisdiction(planner, draft):
    with pytest.raises(ApiError) as error:
        act(planner, drafts.draft_split, draft, code="110101002001001", line=line((116.41, 39.89), (116.41, 39.93)))
    assert error.value.status_code == 404
    assert not draft.edits.exists()


def test_discard_leaves_the_active_grid_as_it_was(planner, draft):
    rows = set(GridUnit.objects.filter(generation_high__isnull=True).values_list("pk", flat=True))
    act(planner, drafts.draft_split, draft, code=f"{WEST_SOUTH}001", line=line((116.386, 39.89), (116.386, 39.93)))
    drafts.draft_discard(scope=planner["scope"], actor=planner["user"], draft=draft)
    assert set(GridUnit.objects.filter(generation_high__isnull=True).values_list("pk", flat=True)) == rows
    assert drafts.draft_current() is None


def test_bad_geometry_input_is_a_clear_400(planner, draft):
    for bad in ("not json", {"type": "Point", "coordinates": [116.38, 39.9]}, {"type": "Polygon"}):
        with pytest.raises(ApiError) as error:
            act(planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=bad)
        assert error.value.status_code == 400 and "geometry" in error.value.fields


def test_undo_drops_the_tiles_of_the_undone_edit(planner, draft, django_capture_on_commit_callbacks):
    from tiles.cache import version

    geometry = box(116.38, 39.90, 116.392, 39.92)
    act(planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=geometry)
    act(planner, drafts.draft_reshape, draft, code=f"{WEST_SOUTH}001", geometry=box(116.38, 39.90, 116.394, 39.92))
    before = version("boundaries")
    with django_capture_on_commit_callbacks(execute=True):
        drafts.draft_undo(scope=planner["scope"], actor=planner["user"], draft=draft)
    assert version("boundaries") > before
    assert shape(units_at(draft, WEST_SOUTH)[f"{WEST_SOUTH}001"]).bounds == pytest.approx(
        (116.38, 39.90, 116.392, 39.92)
    )
