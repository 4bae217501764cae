"""Household imports from CSV and XLSX: every kind of bad row, dry runs, skip-bad, scope, geocoding."""

import csv
import io
import json

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from core.coords import wgs84_to_gcj02
from core.crypto import blind_index
from core.personal import id_number_check_digit
from core.scope import Scope
from residents.importing import household_import, import_options
from residents.models import Building, Household, Resident

pytestmark = pytest.mark.django_db

HEADER = [
    "户号",
    "地址",
    "经度",
    "纬度",
    "住房类型",
    "户标签",
    "姓名",
    "身份证号",
    "联系电话",
    "与户主关系",
    "居住状态",
    "人员标签",
]


def id_number(region="110101", birth="19800101", sequence="123") -> str:
    first17 = region + birth + sequence
    return first17 + id_number_check_digit(first17)


GOOD_ROWS = [
    [
        "H1",
        "西南路1号",
        "116.385",
        "39.905",
        "自有",
        "出租房屋",
        "张伟",
        id_number(sequence="011"),
        "13800000001",
        "户主",
        "户籍",
        "",
    ],
    ["H1", "", "", "", "", "", "王芳", id_number(birth="19820303", sequence="022"), "", "配偶", "户籍", "disabled"],
    [
        "H2",
        "东大街2号",
        "116.41",
        "39.93",
        "租赁",
        "",
        "刘洋",
        id_number(sequence="031"),
        "13800000002",
        "户主",
        "流动",
        "veteran",
    ],
    ["H3", "城外3号", "116.43", "39.905", "", "", "", "", "", "", "", ""],  # outside the city: kept, unassigned
]


def write_csv(path, rows, header=HEADER, encoding="utf-8-sig"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(path, *, scope=None, **options):
    rejects = io.StringIO()
    report = household_import(
        path=path, options=import_options(**options), scope=scope or Scope.everything(), rejects_to=rejects
    )
    report.rejects_csv = rejects.getvalue()
    return report


def kinds(report) -> list[tuple[int, str]]:
    return sorted((p.row, p.kind) for p in report.errors)


def test_a_dry_run_reports_and_writes_nothing(small_city, tmp_path):
    report = run(write_csv(tmp_path / "h.csv", GOOD_ROWS))
    assert report.ok, report.as_text()
    assert not report.committed
    assert report.counts == {"households": 3, "residents": 3, "assigned": 2, "unassigned": 1, "geocoded": 0}
    assert Household.objects.count() == 0 and Resident.objects.count() == 0


def test_a_commit_writes_households_residents_and_tags(small_city, tmp_path):
    report = run(write_csv(tmp_path / "h.csv", GOOD_ROWS), commit=True)
    assert report.committed, report.as_text()
    h1 = Household.objects.get(ref="H1")
    assert h1.grid_code == h1.unit_code == "110101001001001"
    assert h1.housing_type == "owned" and h1.size == 2 and [t.code for t in h1.tags.all()] == ["rented_out"]
    members = {r.name: r for r in h1.residents.all()}
    assert members["张伟"].relation == "head" and members["王芳"].relation == "spouse"
    assert members["张伟"].gender == "male" and str(members["张伟"].birth_date) == "1980-01-01"  # from the ID
    assert members["王芳"].gender == "female"  # sequence 022: the 17th digit is even
    assert members["张伟"].id_number == id_number(sequence="011") and members["张伟"].phone == "13800000001"
    assert members["张伟"].unit_code == "110101001001001"
    assert [t.code for t in members["王芳"].tags.all()] == ["disabled"]
    h2 = Household.objects.get(ref="H2")
    assert h2.grid_code == "110101002001002" and h2.residents.get().residence_status == "floating"
    h3 = Household.objects.get(ref="H3")
    assert h3.grid_code == "" and h3.unit_code == "110101002001"  # the community of the nearest cell
    assert h3.size == 0 and not h3.residents.exists()
    assert Resident.objects.filter(id_number_index=blind_index(id_number(sequence="031"))).get().name == "刘洋"


def test_bad_rows_of_every_kind_are_reported_with_row_and_column(small_city, tmp_path):
    rows = [
        ["B1", "路1号", "abc", "39.905", "", "", "甲", "", "", "户主", "", ""],  # lon not a number
        ["B2", "路2号", "216.38", "39.905", "", "", "乙", "", "", "户主", "", ""],  # lon out of range
        ["B3", "路3号", "39.905", "116.385", "", "", "丙", "", "", "户主", "", ""],  # swapped
        ["B4", "路4号", "116.385", "39.905", "豪宅", "", "丁", "", "", "户主", "", ""],  # unknown housing type
        ["B5", "路5号", "116.385", "39.905", "", "金牌户", "戊", "", "", "户主", "", ""],  # unknown household tag
        ["B6", "路6号", "116.385", "39.905", "", "", "己", "110101198001011230", "", "户主", "", ""],  # checksum
        ["B7", "路7号", "116.385", "39.905", "", "", "庚", id_number(sequence="555"), "", "户主", "", ""],
        ["B8", "路8号", "116.385", "39.905", "", "", "辛", id_number(sequence="555"), "", "户主", "", ""],  # dup
        ["B9", "路9号", "116.385", "39.905", "", "", "壬", "", "12345", "户主", "", "明星"],  # phone, tag
        ["B10", "", "116.385", "39.905", "", "", "癸", "", "", "户主", "", ""],  # no address
        ["B11", "路11号", "", "", "", "", "子", "", "", "户主", "", ""],  # no coordinates
        ["B12", "路12号", "116.385", "39.905", "", "", "", "", "13800000009", "户主", "", ""],  # no name
        ["B13", "路13号", "116.385", "39.905", "", "", "丑", "", "", "户主", "外星", ""],  # unknown status
        ["B13", "", "", "", "", "", "寅", "", "", "户主", "", ""],  # second head
        ["B13", "", "", "", "", "", "卯", "", "", "老板", "", ""],  # unknown relation
    ]
    report = run(write_csv(tmp_path / "bad.csv", rows), commit=True)
    assert not report.committed and Household.objects.count() == 0
    assert kinds(report) == [
        (1, "not_a_number"),
        (2, "lon_out_of_range"),
        (3, "swapped"),
        (4, "unknown_value"),
        (5, "unknown_tag"),
        (6, "id_number_invalid"),
        (8, "id_number_duplicate"),
        (9, "phone_invalid"),
        (9, "unknown_tag"),
        (10, "address_missing"),
        (11, "coordinates_missing"),
        (12, "name_missing"),
        (13, "unknown_value"),
        (14, "second_head"),
        (15, "unknown_value"),
    ]
    columns = {p.row: p.column for p in report.errors}
    assert columns[1] == "经度" and columns[6] == "身份证号" and columns[4] == "住房类型"


def test_skip_bad_loads_the_good_rows_and_returns_exactly_the_bad_ones(small_city, tmp_path):
    rows = [
        *GOOD_ROWS,
        ["H9", "路9号", "x", "39.9", "", "", "坏人", "", "", "户主", "", ""],
        ["H9", "", "", "", "", "", "坏人家属", "", "", "配偶", "", ""],
    ]
    report = run(write_csv(tmp_path / "h.csv", rows), commit=True, skip_bad=True)
    assert report.committed and report.counts["households"] == 3 and report.counts["rejected_rows"] == 2
    assert Household.objects.count() == 3 and not Household.objects.filter(ref="H9").exists()
    rejects = list(csv.reader(io.StringIO(report.rejects_csv.lstrip("\ufeff"))))
    assert rejects[0] == [*HEADER, "error_columns", "errors"]
    assert [r[0] for r in rejects[1:]] == ["H9", "H9"]  # the bad row and the member left out with it
    assert rejects[1][6] == "坏人" and "not a number" in rejects[1][-1]


def test_an_id_number_already_registered_is_refused(small_city, tmp_path):
    run(write_csv(tmp_path / "a.csv", GOOD_ROWS[:2]), commit=True)
    report = run(
        write_csv(
            tmp_path / "b.csv",
            [["X1", "新址", "116.385", "39.905", "", "", "张伟", id_number(sequence="011"), "", "户主", "", ""]],
        ),
        commit=True,
    )
    assert kinds(report) == [(1, "id_exists")]


def test_missing_columns_empty_files_and_broken_encodings(small_city, tmp_path):
    report = run(write_csv(tmp_path / "cols.csv", [["x"]], header=["姓名"]))
    assert [p.kind for p in report.errors] == ["missing_columns"]
    assert "address" in report.errors[0].message and "姓名" in report.errors[0].message
    (tmp_path / "empty.csv").write_bytes(b"")
    assert [p.kind for p in run(tmp_path / "empty.csv").errors] == ["empty"]
    write_csv(tmp_path / "header.csv", [])
    assert [p.kind for p in run(tmp_path / "header.csv").errors] == ["empty"]
    gbk = write_csv(tmp_path / "gbk.csv", GOOD_ROWS, encoding="gbk")
    report = run(gbk)
    assert [p.kind for p in report.errors] == ["encoding"] and "gbk" in report.errors[0].message
    assert run(gbk, encoding="gbk").ok
    broken = tmp_path / "broken.csv"
    broken.write_bytes(write_csv(tmp_path / "ok.csv", GOOD_ROWS).read_bytes() + "\n坏".encode("gbk") + b",x\n")
    report = run(broken)
    assert [p.kind for p in report.errors] == ["encoding"]


def test_ragged_rows_are_reported_and_can_be_skipped(small_city, tmp_path):
    path = write_csv(tmp_path / "ragged.csv", [*GOOD_ROWS, ["H7", "路7号", "116.385"]])
    report = run(path)
    assert (5, "ragged") in kinds(report)
    report = run(path, skip_bad=True, commit=True)
    assert report.committed and Household.objects.count() == 3


def test_xlsx_files_and_mapped_english_headers(small_city, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Family", "Where", "X", "Y", "Person", "Role"])
    sheet.append(["F1", "西南路5号", 116.386, 39.906, "周杰", "户主"])
    sheet.append(["F1", None, None, None, "周小", "子女"])
    path = tmp_path / "h.xlsx"
    workbook.save(path)
    mapping = {
        "columns": {
            "household_ref": "Family",
            "address": "Where",
            "lon": "X",
            "lat": "Y",
            "name": "Person",
            "relation": "Role",
        }
    }
    report = run(path, mapping=mapping, commit=True)
    assert report.committed, report.as_text()
    assert Household.objects.get(ref="F1").residents.count() == 2
    bad_mapping = {"columns": {"address": "Nowhere", "colour": "X"}}
    errors = run(path, mapping=bad_mapping).errors
    assert {p.kind for p in errors} == {"mapping", "missing_columns"}


def test_gcj02_coordinates_are_converted(small_city, tmp_path):
    lon, lat = wgs84_to_gcj02(116.3955, 39.905)  # in cell 002; its raw GCJ-02 numbers fall in the east street
    rows = [["G1", "偏移路1号", f"{lon:.7f}", f"{lat:.7f}", "", "", "", "", "", "", "", ""]]
    report = run(write_csv(tmp_path / "gcj.csv", rows), crs="gcj02", commit=True)
    assert report.committed
    household = Household.objects.get(ref="G1")
    assert household.grid_code == "110101001001002"
    assert household.location.x == pytest.approx(116.3955, abs=1e-6)


def test_geocoding_by_address(small_city, tmp_path):
    Building.objects.create(ref="B1", address="春苑路12号院3号楼", location=Point(116.386, 39.906, srid=4326))
    Building.objects.create(ref="B2", address="秋园胡同7号", location=Point(116.41, 39.93, srid=4326))
    rows = [
        ["A1", "春苑路12号院3号楼", "", "", "", "", "", "", "", "", "", ""],  # exact
        ["A2", "春苑路12号院3号楼2单元501", "", "", "", "", "", "", "", "", "", ""],  # close enough
        ["A3", "完全不同的地方", "", "", "", "", "", "", "", "", "", ""],  # no match: reported
    ]
    path = write_csv(tmp_path / "geo.csv", rows)
    report = run(path, geocode=True)
    assert kinds(report) == [(3, "address_not_found")]
    assert [(p.row, p.kind) for p in report.warnings] == [(2, "geocoded_fuzzy")]
    report = run(path, geocode=True, skip_bad=True, commit=True)
    assert report.counts["geocoded"] == 2
    assert Household.objects.get(ref="A1").building.ref == "B1"
    assert Household.objects.get(ref="A2").location.equals(Point(116.386, 39.906, srid=4326))


def test_an_import_outside_the_callers_capture_scope_is_refused(small_city, tmp_path):
    scope = Scope.build(user_id=1, capture_codes=["110101001"], permissions=["residents.import_household"])
    report = run(write_csv(tmp_path / "h.csv", GOOD_ROWS), scope=scope, commit=True)
    assert [(row, kind) for row, kind in kinds(report)] == [(3, "outside_scope"), (4, "outside_scope")]
    assert Household.objects.count() == 0


def test_the_command_is_a_dry_run_unless_told(small_city, tmp_path, capsys):
    path = write_csv(tmp_path / "h.csv", GOOD_ROWS)
    call_command("import_households", str(path))
    assert "Dry run" in capsys.readouterr().out and Household.objects.count() == 0
    mapping = tmp_path / "mapping.yml"
    mapping.write_text("columns:\n  address: 地址\ncrs: wgs84\n", encoding="utf-8")
    call_command("import_households", str(path), "--mapping", str(mapping), "--commit", "--json")
    assert json.loads(capsys.readouterr().out.split("\n", 0)[0])["committed"] is True
    assert Household.objects.count() == 3


def test_the_command_writes_rejects_and_fails_on_errors(small_city, tmp_path, capsys):
    path = write_csv(tmp_path / "h.csv", [["Z1", "路", "x", "1", "", "", "", "", "", "", "", ""]])
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(CommandError, match="1 bad rows"):
        call_command("import_households", str(path), "--commit", "--rejects", str(rejects))
    assert "not a number" in rejects.read_text(encoding="utf-8-sig")


def test_upload_through_the_api(client_for, small_city, tmp_path, django_capture_on_commit_callbacks):
    worker = client_for("grid_worker", units=["110101001001"])
    path = write_csv(tmp_path / "h.csv", [GOOD_ROWS[0], GOOD_ROWS[1]])
    with path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = worker.post("/api/v1/imports/households/", {"file": handle, "commit": "true"}, format="multipart")
    assert response.status_code == 202, response.content
    job = worker.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert job["status"] == "done" and job["report"]["committed"] is True
    assert job["report"]["counts"]["residents"] == 2
    assert Household.objects.get(ref="H1").residents.count() == 2
    # Outside the worker's jurisdiction: the rows come back as rejects.
    east = write_csv(tmp_path / "east.csv", [GOOD_ROWS[2]])
    with east.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        job = worker.post("/api/v1/imports/households/", {"file": handle, "commit": "true"}, format="multipart").json()
    job = worker.get(f"/api/v1/imports/{job['id']}/").json()
    assert job["report"]["committed"] is False and job["rejects"] is True
    rejects = worker.get(f"/api/v1/imports/{job['id']}/rejects.csv")
    assert "outside your jurisdiction" in b"".join(rejects.streaming_content).decode("utf-8-sig")
    # Another user cannot read the job.
    other = client_for("grid_worker", units=["110101002001"])
    assert other.get(f"/api/v1/imports/{job['id']}/").status_code == 404


def test_the_list_of_imports_shows_the_callers_own_newest_first(
    client_for, small_city, tmp_path, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    worker = client_for("grid_worker", units=["110101001001"])
    other = client_for("grid_worker", units=["110101002001"])
    good = write_csv(tmp_path / "good.csv", [GOOD_ROWS[0], GOOD_ROWS[1]])
    bad = write_csv(tmp_path / "bad.csv", [GOOD_ROWS[0], ["H9", "", "x", "y", "", "", "", "", "", "", "", ""]])
    ids = []
    for path, client in ((good, worker), (bad, worker), (good, other)):
        with path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/imports/households/", {"file": handle}, format="multipart")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    with django_assert_max_num_queries(6):
        listed = worker.get("/api/v1/imports/households/", {"page_size": 1})
    assert listed.status_code == 200, listed.content
    body = listed.json()
    # Only the worker's two imports, the newest first, a page at a time.
    assert body["count"] == 2 and [job["id"] for job in body["results"]] == [ids[1]]
    newest = body["results"][0]
    assert newest["file_name"] == "bad.csv" and newest["status"] == "done"
    assert newest["created_by"] == worker.user.username
    # The list carries the report's counts, not its problems: those are the job's own page.
    assert "errors" not in newest["report"] and newest["report"]["error_count"] >= 2
    assert newest["report"]["ok"] is False and newest["report"]["committed"] is False
    older = worker.get("/api/v1/imports/households/", {"page_size": 1, "page": 2}).json()["results"]
    assert [job["id"] for job in older] == [ids[0]] and older[0]["report"]["error_count"] == 0
    detail = worker.get(f"/api/v1/imports/{ids[1]}/").json()
    assert len(detail["report"]["errors"]) == newest["report"]["error_count"]
    assert [job["id"] for job in other.get("/api/v1/imports/households/").json()["results"]] == [ids[2]]
    viewer = client_for("viewer", units=["110101001"])
    assert viewer.get("/api/v1/imports/households/").status_code == 403


def test_uploads_of_the_wrong_type_or_without_permission(client_for, small_city, tmp_path):
    worker = client_for("grid_worker", units=["110101001001"])
    bad = tmp_path / "h.exe"
    bad.write_bytes(b"MZ")
    with bad.open("rb") as handle:
        response = worker.post("/api/v1/imports/households/", {"file": handle}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]
    viewer = client_for("viewer", units=["110101001"])
    with bad.open("rb") as handle:
        assert viewer.post("/api/v1/imports/households/", {"file": handle}, format="multipart").status_code == 403


def _index_definitions(table: str) -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def test_a_load_larger_than_its_table_builds_the_indexes_once_at_the_end(small_city, tmp_path, settings):
    settings.GEOGRID_BULK_REBUILD_MIN_ROWS = 2
    before = {table: _index_definitions(table) for table in ("residents_household", "residents_resident")}
    report = run(write_csv(tmp_path / "h.csv", GOOD_ROWS), commit=True)
    assert report.committed, report.as_text()
    # Every non-unique index of both tables was set aside and built again, the same as it was.
    assert "household_address_trgm" in report.indexes_rebuilt and "resident_name_trgm" in report.indexes_rebuilt
    assert "resident_unique_id_number" not in report.indexes_rebuilt  # unique ones keep refusing duplicates
    assert not any(name.endswith("_pkey") for name in report.indexes_rebuilt)
    assert {table: _index_definitions(table) for table in before} == before
    assert Household.objects.filter(address__trigram_similar="西南路1").exists()


def test_a_small_load_into_a_larger_table_keeps_its_indexes(small_city, tmp_path, settings):
    run(write_csv(tmp_path / "a.csv", GOOD_ROWS), commit=True)
    settings.GEOGRID_BULK_REBUILD_MIN_ROWS = 1
    report = run(write_csv(tmp_path / "b.csv", [["H8", "北路8号", "116.385", "39.905", *[""] * 8]]), commit=True)
    assert report.committed and report.counts["households"] == 1
    assert report.indexes_rebuilt == []  # 1 household into a table of 3


def test_a_failed_bulk_load_leaves_the_indexes_in_place(small_city):
    from django.db import connection, transaction

    from core.bulk import indexes_rebuilt_after

    before = _index_definitions("residents_household")
    with (
        pytest.raises(RuntimeError),
        transaction.atomic(),
        connection.cursor() as cursor,
        indexes_rebuilt_after(cursor, "residents_household", 10**9) as rebuild,
    ):
        assert rebuild.rebuilt and _index_definitions("residents_household") != before
        raise RuntimeError("the insert failed")
    assert _index_definitions("residents_household") == before


def _statistics(cursor, table: str) -> dict[str, int]:
    """Each analysed column (or index expression) of `table` and how many values its statistics list."""
    cursor.execute(
        "SELECT attname, coalesce(array_length(most_common_vals::text::text[], 1), 0) "
        "+ coalesce(array_length(histogram_bounds::text::text[], 1), 0) FROM pg_stats "
        "WHERE schemaname = 'public' AND tablename = %s",
        [table],
    )
    return dict(cursor.fetchall())


def test_statistics_after_a_bulk_load_honour_each_columns_own_target(db):
    """unit_code keeps its raised target (more histogram bounds than the default allows) and the rest get stats."""
    from django.db import connection

    from core.bulk import analyze

    Household.objects.bulk_create(
        Household(address=f"路{i}号", location=Point(116.3 + i / 1e4, 39.9), unit_code=f"1101010{i % 400:05d}")
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        analyze(cursor, "residents_household")
        columns = _statistics(cursor, "residents_household")
        # 400 codes: a target of 100 lists at most 100 common values and 101 bounds; the column's 1,000 lists all.
        assert columns["unit_code"] > 201
        assert {"address", "location", "grid_code"} <= set(columns)
        # The index on location::geography got its expression's statistics too (only a whole-table ANALYZE does that).
        assert "location" in _statistics(cursor, "household_location_geography")
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'residents_household'::regclass "
            "AND attname = 'unit_code'"
        )
        assert cursor.fetchone()[0] == 1000


def test_coded_values_match_as_written_and_in_any_letter_case(small_city, tmp_path):
    rows = [
        ["H1", "西南路1号", "116.385", "39.905", "Rented", "", "张伟", "", "", "SPOUSE", "Floating", ""],
        ["H2", "东大街2号", "116.41", "39.93", "collective", "", "刘洋", "", "", "户主", "流动", ""],
        ["H3", "东大街3号", "116.41", "39.93", "Castle", "", "李雷", "", "", "户主", "户籍", ""],
    ]
    report = run(write_csv(tmp_path / "h.csv", rows), commit=True, skip_bad=True)
    assert [(p.row, p.kind, p.column) for p in report.errors] == [(3, "unknown_value", "住房类型")]
    assert dict(Household.objects.values_list("ref", "housing_type")) == {"H1": "rented", "H2": "collective"}
    assert dict(Resident.objects.values_list("name", "relation")) == {"张伟": "spouse", "刘洋": "head"}
    assert dict(Resident.objects.values_list("name", "residence_status")) == {"张伟": "floating", "刘洋": "floating"}
