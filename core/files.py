"""Checking uploaded files: the real type from the content, size limits, and images that really are images."""

from __future__ import annotations

from dataclasses import dataclass

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
