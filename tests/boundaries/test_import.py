"""Boundary import from real Shapefile, GeoPackage and GeoJSON files, good and broken."""

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry import box as sbox

from boundaries.models import Generation, GridUnit, Level
from boundaries.services import boundary_export, boundary_import

pytestmark = pytest.mark.django_db

CITY = sbox(116.38, 39.90, 116.42, 39.94)
WEST = sbox(116.38, 39.90, 116.40, 39.94)
EAST = sbox(116.40, 39.90, 116.42, 39.94)


def write(path: Path, rows: list[dict], *, crs="EPSG:4326", driver=None, layer=None, **kwargs) -> Path:
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    frame.to_file(path, driver=driver, layer=layer, engine="pyogrio", **kwargs)
    return path


def import_file(path, level, commit=True, **kwargs):
    options = {"code_field": "CODE", "name_field": "NAME"}
    options.update(kwargs)
    return boundary_import(path=path, level=level, commit=commit, **options)


@pytest.fixture
def city_and_district(tmp_path):
    city = write(tmp_path / "city.shp", [{"CODE": "110100", "NAME": "测试市", "geometry": CITY}])
    district = write(tmp_path / "district.shp", [{"CODE": "110101", "NAME": "测试区", "geometry": CITY}])
    assert import_file(city, Level.CITY).committed
    assert import_file(district, Level.DISTRICT).committed


def streets(tmp_path, rows=None, name="street.shp", **kwargs):
    rows = rows or [
        {"CODE": "110101001", "NAME": "西街道", "PARENT": "110101", "geometry": WEST},
        {"CODE": "110101002", "NAME": "东街道", "PARENT": "110101", "geometry": EAST},
    ]
    return write(tmp_path / name, rows, **kwargs)


def kinds(report) -> list[str]:
    return [p.kind for p in report.errors]


def test_dry_run_reports_and_writes_nothing(tmp_path):
    city = write(tmp_path / "city.shp", [{"CODE": "110100", "NAME": "测试市", "geometry": CITY}])
    report = import_file(city, Level.CITY, commit=False)
    assert report.ok and not report.committed
    assert report.counts_per_level == {"city": 1}
    assert report.generation is None  # the initial generation was rolled back with the rest
    assert GridUnit.objects.count() == 0
    assert Generation.objects.count() == 0
    assert "Dry run" in report.as_text()


def test_commit_writes_a_hierarchy_into_the_active_generation(tmp_path, city_and_district):
    report = import_file(streets(tmp_path), Level.STREET, parent_field="PARENT")
    assert report.ok, report.as_text()
    assert report.committed
    assert report.counts_per_level == {"city": 1, "district": 1, "street": 2}
    generation = Generation.objects.get(active=True)
    assert report.generation == generation.pk
    audit = LogEntry.objects.filter(additional_data__event="boundary_import", additional_data__level="street").get()
    assert audit.object_pk == str(generation.pk) and audit.additional_data["units"] == 2
    west = GridUnit.objects.get(code="110101001")
    assert west.name == "西街道" and west.parent_code == "110101" and west.level == Level.STREET
    assert west.generation_low_id == generation.pk and west.generation_high_id is None
    assert shapely.equals(shapely.from_wkb(bytes(west.geom.wkb)), MultiPolygon([WEST]))
    assert 7.4e6 < west.area_m2 < 7.8e6  # about 1.7 km x 4.4 km


def test_geopackage_and_geojson_are_read(tmp_path, city_and_district):
    gpkg = streets(tmp_path, name="streets.gpkg", driver="GPKG", layer="streets")
    report = import_file(gpkg, Level.STREET, commit=False)
    assert report.ok, report.as_text()
    geojson = streets(tmp_path, name="streets.geojson", driver="GeoJSON")
    report = import_file(geojson, Level.STREET, commit=False)
    assert report.ok, report.as_text()
    assert report.feature_count == 2


def test_a_geopackage_with_several_layers_needs_a_layer(tmp_path, city_and_district):
    gpkg = streets(tmp_path, name="both.gpkg", driver="GPKG", layer="streets")
    write(gpkg, [{"CODE": "x", "NAME": "y", "geometry": CITY}], driver="GPKG", layer="other")
    report = import_file(gpkg, Level.STREET, commit=False)
    assert kinds(report) == ["layer_required"]
    assert "streets" in report.errors[0].message and "other" in report.errors[0].message
    assert import_file(gpkg, Level.STREET, commit=False, layer="streets").ok
    assert kinds(import_file(gpkg, Level.STREET, commit=False, layer="nope")) == ["unknown_layer"]


def test_a_projected_file_is_transformed_to_wgs84(tmp_path, city_and_district):
    # CGCS2000 / 3-degree Gauss-Kruger CM 117E, the CRS of many Chinese survey files.
    projected = gpd.GeoSeries([WEST, EAST], crs="EPSG:4326").to_crs(4548)
    rows = [
        {"CODE": "110101001", "NAME": "西", "geometry": projected[0]},
        {"CODE": "110101002", "NAME": "东", "geometry": projected[1]},
    ]
    report = import_file(write(tmp_path / "projected.shp", rows, crs="EPSG:4548"), Level.STREET)
    assert report.ok, report.as_text()
    west = GridUnit.objects.get(code="110101001")
    # Back in degrees, the corners are where they were, to well under a millimetre.
    assert shapely.hausdorff_distance(shapely.from_wkb(bytes(west.geom.wkb)), WEST) < 1e-8


def test_a_shapefile_without_prj_needs_a_source_srid(tmp_path, city_and_district):
    path = streets(tmp_path)
    path.with_suffix(".prj").unlink()
    report = import_file(path, Level.STREET)
    assert kinds(report) == ["no_crs"]
    assert "--source-srid" in report.errors[0].message
    assert GridUnit.objects.filter(level=Level.STREET).count() == 0
    assert import_file(path, Level.STREET, source_srid=4490).committed


def test_wrong_field_names_are_named(tmp_path, city_and_district):
    report = import_file(streets(tmp_path), Level.STREET, code_field="ADCODE")
    assert kinds(report) == ["missing_field"]
    assert "ADCODE" in report.errors[0].message and "CODE, NAME, PARENT" in report.errors[0].message


def test_self_intersection_is_reported_with_the_postgis_reason_and_repaired_on_request(tmp_path, city_and_district):
    bowtie = Polygon([(116.38, 39.90), (116.40, 39.94), (116.40, 39.90), (116.38, 39.94), (116.38, 39.90)])
    rows = [
        {"CODE": "110101001", "NAME": "西", "PARENT": "110101", "geometry": bowtie},
        {"CODE": "110101002", "NAME": "东", "PARENT": "110101", "geometry": EAST},
    ]
    path = streets(tmp_path, rows)
    report = import_file(path, Level.STREET)
    assert kinds(report) == ["geometry_invalid"]
    assert "Self-intersection" in report.errors[0].message
    assert report.errors[0].row == 1 and report.errors[0].code == "110101001"
    assert not report.committed and GridUnit.objects.filter(level=Level.STREET).count() == 0

    repaired = import_file(path, Level.STREET, fix_invalid=True)
    assert repaired.committed, repaired.as_text()
    assert [w.kind for w in repaired.warnings if w.kind == "geometry_repaired"] == ["geometry_repaired"]
    fixed = GridUnit.objects.get(code="110101001")
    assert fixed.geom.valid and fixed.geom.num_geom == 2  # the bow-tie's two triangles


def test_an_unclosed_ring_is_refused(tmp_path, city_and_district):
    ring = [[116.38, 39.90], [116.40, 39.90], [116.40, 39.94], [116.38, 39.94]]  # last point missing
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"CODE": "110101001", "NAME": "西"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
        ],
    }
    path = tmp_path / "unclosed.geojson"
    path.write_text(json.dumps(collection))
    report = import_file(path, Level.STREET)
    assert kinds(report) == ["geometry_unreadable"]
    assert "closed" in report.errors[0].message
    assert GridUnit.objects.filter(level=Level.STREET).count() == 0
    # --fix-invalid closes the ring (the west street alone leaves a gap: a warning, not an error).
    repaired = import_file(path, Level.STREET, fix_invalid=True)
    assert repaired.committed, repaired.as_text()
    assert shapely.equals(shapely.from_wkb(bytes(GridUnit.objects.get(code="110101001").geom.wkb)), WEST)


def test_duplicate_codes_bad_codes_and_missing_names(tmp_path, city_and_district):
    rows = [
        {"CODE": "110101001", "NAME": "西", "PARENT": "110101", "geometry": WEST},
        {"CODE": "110101001", "NAME": "东", "PARENT": "110101", "geometry": EAST},
        {"CODE": "11010100A", "NAME": "", "PARENT": "110101", "geometry": sbox(116.38, 39.95, 116.39, 39.96)},
    ]
    report = import_file(streets(tmp_path, rows), Level.STREET)
    assert sorted(kinds(report)) == ["code_duplicate", "code_duplicate", "code_format", "name_missing"]
    assert GridUnit.objects.filter(level=Level.STREET).count() == 0


def test_overlapping_siblings_are_reported_above_the_tolerance(tmp_path, city_and_district):
    west_bigger = sbox(116.38, 39.90, 116.401, 39.94)  # 0.001° (about 85 m) into the east street
    rows = [
        {"CODE": "110101001", "NAME": "西", "geometry": west_bigger},
        {"CODE": "110101002", "NAME": "东", "geometry": EAST},
    ]
    report = import_file(streets(tmp_path, rows), Level.STREET)
    assert kinds(report) == ["overlap"]
    assert report.errors[0].code == "110101001" and "110101002" in report.errors[0].message
    # A huge tolerance lets the same file through.
    assert import_file(streets(tmp_path, rows, name="again.shp"), Level.STREET, tolerance_m2=1e6).committed


def test_overlap_with_a_sibling_already_in_the_database(tmp_path, city_and_district):
    assert import_file(streets(tmp_path, [{"CODE": "110101001", "NAME": "西", "geometry": WEST}]), Level.STREET).ok
    east_bigger = sbox(116.399, 39.90, 116.42, 39.94)
    report = import_file(
        streets(tmp_path, [{"CODE": "110101002", "NAME": "东", "geometry": east_bigger}], name="east.shp"), Level.STREET
    )
    assert kinds(report) == ["overlap"]


def test_children_sticking_out_of_their_parent(tmp_path, city_and_district):
    rows = [
        {"CODE": "110101001", "NAME": "西", "geometry": sbox(116.37, 39.90, 116.40, 39.94)},
        {"CODE": "110101002", "NAME": "东", "geometry": EAST},
    ]
    report = import_file(streets(tmp_path, rows), Level.STREET)
    assert kinds(report) == ["outside_parent"]
    assert "110101" in report.errors[0].message


def test_unknown_and_mismatched_parents(tmp_path, city_and_district):
    rows = [
        {"CODE": "110102001", "NAME": "别区街道", "PARENT": "110102", "geometry": WEST},
        {"CODE": "110101002", "NAME": "东", "PARENT": "110105", "geometry": EAST},
    ]
    report = import_file(streets(tmp_path, rows), Level.STREET, parent_field="PARENT")
    assert sorted(kinds(report)) == ["parent_mismatch", "parent_unknown"]


def test_a_level_imported_before_its_parents_is_refused(tmp_path):
    report = import_file(streets(tmp_path), Level.STREET)
    assert set(kinds(report)) == {"parent_unknown"}
    assert GridUnit.objects.count() == 0 and Generation.objects.count() == 0


def test_codes_already_in_the_generation_are_refused(tmp_path, city_and_district):
    assert import_file(streets(tmp_path), Level.STREET).committed
    report = import_file(streets(tmp_path, name="again.shp"), Level.STREET)
    assert kinds(report) == ["code_exists", "code_exists"]


def test_one_bad_feature_refuses_the_whole_commit(tmp_path, city_and_district):
    rows = [
        {"CODE": "110101001", "NAME": "西", "geometry": WEST},
        {"CODE": "110101002", "NAME": "东", "geometry": EAST},
        {"CODE": "110101003", "NAME": "线", "geometry": shapely.LineString([(116.38, 39.9), (116.4, 39.9)])},
    ]
    report = import_file(streets(tmp_path, rows, name="mixed.gpkg", driver="GPKG"), Level.STREET)
    assert kinds(report) == ["geometry_type"]
    assert GridUnit.objects.filter(level=Level.STREET).count() == 0


def test_holes_and_islands_are_kept(tmp_path, city_and_district):
    hole = [(116.385, 39.925), (116.395, 39.925), (116.395, 39.935), (116.385, 39.935)]
    west_with_hole = Polygon(WEST.exterior.coords, [hole])
    island = sbox(116.387, 39.927, 116.393, 39.933)
    rows = [
        {"CODE": "110101001", "NAME": "西", "geometry": MultiPolygon([west_with_hole, island])},
        {"CODE": "110101002", "NAME": "东", "geometry": EAST},
    ]
    report = import_file(streets(tmp_path, rows), Level.STREET)
    assert report.committed, report.as_text()
    west = GridUnit.objects.get(code="110101001").geom
    assert west.num_geom == 2 and west[0].num_interior_rings == 1
    # The ring between island and hole belongs to no street: the report says so as a warning.
    assert [w.kind for w in report.warnings] == ["gap"]


def test_the_command_is_a_dry_run_unless_told(tmp_path, city_and_district, capsys):
    path = streets(tmp_path)
    call_command("import_boundaries", str(path), level="street", code_field="CODE", name_field="NAME")
    assert "Dry run" in capsys.readouterr().out
    assert GridUnit.objects.filter(level=Level.STREET).count() == 0
    call_command(
        "import_boundaries",
        str(path),
        "--level",
        "street",
        "--code-field",
        "CODE",
        "--name-field",
        "NAME",
        "--parent-field",
        "PARENT",
        "--commit",
    )
    assert GridUnit.objects.filter(level=Level.STREET).count() == 2


def test_the_command_fails_on_errors(tmp_path, city_and_district, capsys):
    with pytest.raises(CommandError, match="1 errors"):
        call_command(
            "import_boundaries",
            str(streets(tmp_path)),
            level="street",
            code_field="NOPE",
            name_field="NAME",
            commit=True,
        )
    assert "missing_field" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Unknown level"):
        call_command("import_boundaries", "x.shp", level="province", code_field="C", name_field="N")


@pytest.mark.parametrize("file_format", ["gpkg", "geojson", "shp"])
def test_export_round_trips(tmp_path, small_city, file_format):
    out = tmp_path / f"units.{file_format}"
    count = boundary_export(
        out=out, file_format=file_format, generation=Generation.objects.get(active=True), under="110101001"
    )
    frame = pyogrio.read_dataframe(out)
    assert count == len(frame) == 7  # the west street, its two communities and their four cells
    assert sorted(frame["code"]) == sorted(c for c in small_city if c.startswith("110101001"))
    assert "西南社区第1网格" in set(frame["name"])
    assert frame.crs.to_epsg() == 4326
    cell = frame.set_index("code").loc["110101001002001"]
    assert cell["parent"] == "110101001002" and cell["level"] == "grid"
    parts = getattr(cell.geometry, "geoms", [cell.geometry])  # a Shapefile reads single parts as Polygon
    assert parts[0].interiors  # the hole survives the trip


def test_export_command_by_level(tmp_path, small_city, capsys):
    out = tmp_path / "grids.gpkg"
    call_command("export_boundaries", str(out), format="gpkg", level="grid")
    assert "Wrote 6 grid units" in capsys.readouterr().out
    assert set(pyogrio.read_dataframe(out)["level"]) == {"grid"}


def test_a_parent_filled_by_two_imports_warns_of_its_gap_only_while_it_has_one(tmp_path, city_and_district):
    west = import_file(streets(tmp_path, [{"CODE": "110101001", "NAME": "西", "geometry": WEST}]), Level.STREET)
    assert [(w.kind, w.code) for w in west.warnings] == [("gap", "110101")]
    # The east half completes the district: the west street already in the database counts.
    east = streets(tmp_path, [{"CODE": "110101002", "NAME": "东", "geometry": EAST}], name="east.shp")
    assert import_file(east, Level.STREET).warnings == []


def test_overlapping_cities_are_reported_though_they_have_no_parent(tmp_path):
    rows = [
        {"CODE": "110100", "NAME": "甲市", "geometry": CITY},
        {"CODE": "120100", "NAME": "乙市", "geometry": sbox(116.41, 39.90, 116.45, 39.94)},
    ]
    report = import_file(write(tmp_path / "cities.shp", rows), Level.CITY)
    assert kinds(report) == ["overlap"]
    assert (report.errors[0].code, "120100" in report.errors[0].message) == ("110100", True)
