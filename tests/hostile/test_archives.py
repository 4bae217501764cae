"""The archive checks on their own: what the end record claims, zip64, lying sizes, where extraction writes."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.files import UnsafeFile, check_archive, extract_archive
from tests.hostile import corpus


def refusal(source, name="a.zip") -> str:
    with pytest.raises(UnsafeFile) as refused:
        check_archive(source, name)
    assert name in refused.value.message
    return refused.value.kind


def test_a_directory_too_large_for_the_member_limit_is_refused_before_zipfile_parses_it(settings, monkeypatch):
    settings.GEOGRID_MAX_ARCHIVE_MEMBERS = 10
    # The end record claims one member; the directory holds 1500 (about 80 kB of it).
    data = corpus.raw_zip([corpus.member(f"m/{i:04d}.txt", b"") for i in range(1500)], claimed=1)

    def never(*args, **kwargs):
        raise AssertionError("zipfile parsed the directory")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", never)
    assert refusal(io.BytesIO(data)) == "too_many_members"


def test_zip64_end_records_are_read(settings):
    settings.GEOGRID_MAX_ARCHIVE_MEMBERS = 10
    small = corpus.raw_zip([corpus.member(f"{i}.txt", b"x") for i in range(3)], zip64=True)
    assert [m.filename for m in check_archive(io.BytesIO(small), "a.zip")] == ["0.txt", "1.txt", "2.txt"]
    many = corpus.raw_zip([corpus.member(f"{i}.txt", b"x") for i in range(11)], zip64=True)
    assert refusal(io.BytesIO(many)) == "too_many_members"


def test_not_an_archive_and_a_cut_archive_are_unreadable(tmp_path):
    path = tmp_path / "a.zip"
    for content in (b"PK\x03\x04 and nothing else", corpus.raw_zip([corpus.member("x", b"y" * 1000)])[:-30]):
        path.write_bytes(content)
        assert refusal(path) == "unreadable"


def test_a_member_larger_than_it_declares_unpacks_no_further(tmp_path):
    """A member claiming 10 bytes but holding 10 MB: extraction stops at the claim (or refuses the archive)."""
    liar = corpus.bomb_member("x.bin", b"", b"\0" * corpus.MB, 10, b"")
    liar.size = 10
    path = tmp_path / "liar.zip"
    path.write_bytes(corpus.raw_zip([liar]))
    target = tmp_path / "out"
    target.mkdir()
    try:
        written = extract_archive(path, target, "liar.zip")
    except UnsafeFile as refused:
        assert refused.kind == "unreadable"
    else:
        assert [p.stat().st_size for p in written] == [10]
    assert sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) <= 10


@pytest.mark.parametrize(
    "member",
    ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "..\\evil.txt", "a\\..\\..\\evil.txt"],
)
def test_names_leading_outside_are_refused_and_nothing_is_written(tmp_path, member):
    path = tmp_path / "a.zip"
    path.write_bytes(corpus.raw_zip([corpus.member("ok.txt", b"fine"), corpus.member(member, b"evil")]))
    target = tmp_path / "deep" / "out"
    target.mkdir(parents=True)
    with pytest.raises(UnsafeFile) as refused:
        extract_archive(path, target, "a.zip")
    assert refused.value.kind == "unsafe_name"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["a.zip"]


def test_a_plain_archive_unpacks_inside_its_directory(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(corpus.raw_zip([corpus.member("dir/one.txt", b"1"), corpus.member("two.txt", b"22")]))
    target = tmp_path / "out"
    target.mkdir()
    written = extract_archive(path, target, "a.zip")
    assert sorted(p.relative_to(target).as_posix() for p in written) == ["dir/one.txt", "two.txt"]
    assert (target / "two.txt").read_bytes() == b"22"
