"""Checking uploaded and imported files: the real type from the content, size and archive limits, real images."""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

# What the first bytes must be, whatever the file name or the client's content type say.
SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"RIFF", "image/webp", ".webp"),  # followed by WEBP at offset 8
    (b"%PDF-", "application/pdf", ".pdf"),
]


@dataclass
class CheckedUpload:
    file: object
    name: str
    content_type: str
    extension: str
    size: int


def check_upload(upload, *, field: str = "files") -> CheckedUpload:
    """A photo (JPEG, PNG, WebP) or a PDF within the size limit; ValidationError naming the file otherwise."""
    name = getattr(upload, "name", "file")
    limit = settings.GEOGRID_MAX_ATTACHMENT_MB * 1024 * 1024
    if upload.size > limit:
        message = _("%(name)s is larger than %(mb)d MB.") % {"name": name, "mb": settings.GEOGRID_MAX_ATTACHMENT_MB}
        raise ValidationError({field: [message]})
    if upload.size == 0:
        raise ValidationError({field: [_("%(name)s is empty.") % {"name": name}]})
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for signature, content_type, extension in SIGNATURES:  # noqa: B007 (the match is used after the loop)
        if head.startswith(signature) and (content_type != "image/webp" or head[8:12] == b"WEBP"):
            break
    else:
        raise ValidationError({field: [_("%(name)s is not a JPEG, PNG or WebP photo or a PDF.") % {"name": name}]})
    if content_type.startswith("image/"):
        try:
            with Image.open(upload) as image:
                image.verify()  # also refuses decompression bombs (Pillow's pixel limit)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError):
            raise ValidationError({field: [_("%(name)s is not a readable image.") % {"name": name}]}) from None
        upload.seek(0)
    return CheckedUpload(file=upload, name=name, content_type=content_type, extension=extension, size=upload.size)


class UnsafeFile(Exception):
    """A file refused before its content is read: too large, an archive that would unpack too far, a wrong type."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


ZIP_SIGNATURE = b"PK\x03\x04"
SQLITE_SIGNATURE = b"SQLite format 3\x00"
# Members this small are never counted as bombs, whatever their ratio (an empty sheet compresses 100:1).
RATIO_FLOOR = 1024 * 1024


def content_kind(head: bytes) -> str:
    """What the first bytes of a file say it is: zip (also XLSX), sqlite (GeoPackage), pdf, binary or text."""
    if head.startswith(ZIP_SIGNATURE) or head.startswith(b"PK\x05\x06"):  # the second: an empty zip
        return "zip"
    if head.startswith(SQLITE_SIGNATURE):
        return "sqlite"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # NULs without a UTF-16 BOM
        return "binary"
    return "text"


def check_size(size: int, name: str, *, limit_mb: int | None = None) -> None:
    limit_mb = settings.GEOGRID_MAX_UPLOAD_MB if limit_mb is None else limit_mb
    if size > limit_mb * 1024 * 1024:
        raise UnsafeFile("too_large", _("%(name)s is larger than %(mb)d MB.") % {"name": name, "mb": limit_mb})
    if size == 0:
        raise UnsafeFile("empty", _("%(name)s is empty.") % {"name": name})


def _unsafe_member_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
        or any(part == ".." for part in parts)
        or "\x00" in name
    )


# Bytes of central directory allowed per member: names and extra fields take far less.
DIRECTORY_BYTES_PER_MEMBER = 1024


def _directory_claims(source) -> tuple[int, int] | None:
    """
    (members, directory size) as the archive's end record states them, read from its last bytes:
    zipfile would parse the whole central directory, however large, before anything could count it.
    None when there is no end record (zipfile then refuses the file itself).
    """
    source.seek(0, 2)
    size = source.tell()
    start = max(0, size - (65536 + 22 + 20))  # the longest comment, the end record, the zip64 locator
    source.seek(start)
    tail = source.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    count, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    if count != 0xFFFF and directory != 0xFFFFFFFF:
        return count, directory
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(b"PK\x06\x07"):
        return None
    source.seek(struct.unpack("<Q", locator[8:16])[0])
    record = source.read(56)
    if not record.startswith(b"PK\x06\x06") or len(record) < 56:
        return None
    return struct.unpack("<QQ", record[32:48])


def check_archive(source, name: str) -> list[zipfile.ZipInfo]:
    """
    The members of a zip archive (a zipped Shapefile, an XLSX workbook), read from its central
    directory only: refused when they are too many, would unpack to more than the limit, compress
    suspiciously well (a zip bomb), are encrypted, links, or named to land outside the folder they
    are extracted to. Nothing is decompressed here. Python's zipfile never unpacks more than a
    member's declared size, so these declared sizes bound what a later extraction writes.
    """
    limit_members = settings.GEOGRID_MAX_ARCHIVE_MEMBERS
    try:
        with open(source, "rb") if isinstance(source, str | Path) else nullcontext(source) as handle:
            claims = _directory_claims(handle)
            handle.seek(0)
            if claims and (claims[0] > limit_members or claims[1] > limit_members * DIRECTORY_BYTES_PER_MEMBER):
                raise UnsafeFile(
                    "too_many_members",
                    _("%(name)s holds %(count)d files; at most %(limit)d are accepted.")
                    % {"name": name, "count": max(claims[0], claims[1] // 46), "limit": limit_members},
                )
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise UnsafeFile(
            "unreadable", _("%(name)s is not a readable zip archive: %(reason)s") % {"name": name, "reason": exc}
        ) from None
    if len(members) > limit_members:
        raise UnsafeFile(
            "too_many_members",
            _("%(name)s holds %(count)d files; at most %(limit)d are accepted.")
            % {"name": name, "count": len(members), "limit": settings.GEOGRID_MAX_ARCHIVE_MEMBERS},
        )
    limit = settings.GEOGRID_MAX_UNCOMPRESSED_MB * 1024 * 1024
    total = 0
    for member in members:
        if _unsafe_member_name(member.filename):
            raise UnsafeFile(
                "unsafe_name",
                _("%(name)s holds a file named %(member)s, which points outside the archive.")
                % {"name": name, "member": member.filename[:200]},
            )
        if stat.S_ISLNK(member.external_attr >> 16):
            raise UnsafeFile(
                "unsafe_name",
                _("%(name)s holds a link (%(member)s); links are not accepted.")
                % {"name": name, "member": member.filename[:200]},
            )
        if member.flag_bits & 0x1:
            raise UnsafeFile(
                "encrypted", _("%(name)s is encrypted (%(member)s).") % {"name": name, "member": member.filename[:200]}
            )
        total += member.file_size
        if total > limit:
            raise UnsafeFile(
                "too_large_uncompressed",
                _("%(name)s would unpack to more than %(mb)d MB.")
                % {"name": name, "mb": settings.GEOGRID_MAX_UNCOMPRESSED_MB},
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_FLOOR and ratio > settings.GEOGRID_MAX_COMPRESSION_RATIO:
            raise UnsafeFile(
                "compression_ratio",
                _("%(member)s in %(name)s is compressed %(ratio)d times; at most %(limit)d is accepted (a zip bomb?).")
                % {
                    "member": member.filename[:200],
                    "name": name,
                    "ratio": ratio,
                    "limit": settings.GEOGRID_MAX_COMPRESSION_RATIO,
                },
            )
    return members


def extract_archive(path: Path, into: Path, name: str) -> list[Path]:
    """
    Unpacks a checked zip archive under `into` (a fresh temporary directory): every path is checked
    to stay inside it, and no member writes more than its declared size nor the whole more than the limit.
    """
    members = check_archive(path, name)
    root = into.resolve()
    limit = settings.GEOGRID_MAX_UNCOMPRESSED_MB * 1024 * 1024
    written: list[Path] = []
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for member in members:
                target = (root / member.filename.replace("\\", "/")).resolve()
                if not target.is_relative_to(root) or target == root:
                    raise UnsafeFile(
                        "unsafe_name",
                        _("%(name)s holds a file named %(member)s, which points outside the archive.")
                        % {"name": name, "member": member.filename[:200]},
                    )
                if member.is_dir():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, target.open("xb") as out:
                    while chunk := source.read(1 << 20):
                        total += len(chunk)
                        if total > limit:
                            raise UnsafeFile(
                                "too_large_uncompressed",
                                _("%(name)s would unpack to more than %(mb)d MB.")
                                % {"name": name, "mb": settings.GEOGRID_MAX_UNCOMPRESSED_MB},
                            )
                        out.write(chunk)
                written.append(target)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise UnsafeFile(
            "unreadable", _("%(name)s cannot be unpacked: %(reason)s") % {"name": name, "reason": exc}
        ) from None
    return written


def check_table_upload(upload, *, field: str = "file") -> str:
    """
    An uploaded CSV or XLSX file: the right suffix, within the size limit, its content what the suffix
    says (an XLSX is a zip archive within the archive limits, a CSV is text). Returns the suffix;
    ValidationError naming the file and the reason otherwise.
    """
    name = Path(getattr(upload, "name", "") or "file").name
    suffix = Path(name).suffix.lower()
    try:
        if suffix not in (".csv", ".xlsx"):
            raise UnsafeFile("wrong_type", _("Upload a .csv or .xlsx file."))
        check_size(upload.size, name)
        upload.seek(0)
        kind = content_kind(upload.read(8192))
        upload.seek(0)
        check_table_content(kind, suffix, name)
        if kind == "zip":
            check_archive(upload, name)
            upload.seek(0)
    except UnsafeFile as exc:
        raise ValidationError({field: [exc.message]}) from None
    return suffix


def _kind_name(kind: str) -> str:
    return {
        "zip": _("a zip archive"),
        "sqlite": _("a SQLite database (a GeoPackage?)"),
        "pdf": _("a PDF document"),
        "binary": _("binary data"),
        "text": _("text (CSV?)"),
    }[kind]


def check_table_content(kind: str, suffix: str, name: str) -> None:
    """A table file whose content is not what its suffix says is refused, saying what it really is."""
    workbook = suffix in (".xlsx", ".xlsm")
    if workbook and kind != "zip":
        raise UnsafeFile(
            "wrong_type",
            _("%(name)s is named like an XLSX workbook but is %(what)s.") % {"name": name, "what": _kind_name(kind)},
        )
    if not workbook and kind == "zip":
        raise UnsafeFile(
            "wrong_type",
            _("%(name)s is a zip archive (an XLSX workbook?), not CSV text: name it .xlsx or save it as CSV.")
            % {"name": name},
        )
    if not workbook and kind != "text":
        raise UnsafeFile(
            "wrong_type", _("%(name)s is not text but %(what)s.") % {"name": name, "what": _kind_name(kind)}
        )
