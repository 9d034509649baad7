"""Payment gateways: the certificate is uploaded as a file, checked, stored encrypted.

The file is read in chunks and at most one byte past ``services.certificates.MAX_BYTES``:
that byte is enough to refuse it as too large, and a large file is never held in memory
(the route's body limit, ``admin.limits``, bounds what reaches the form at all).
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.datastructures import UploadFile
from starlette.requests import Request
from wtforms import FileField

from admin.views import PostdeskView
from locales import gettext
from services.certificates import MAX_BYTES, read_certificate
from services.errors import Refused

CHUNK = 16 * 1024


async def read_bounded(upload: UploadFile, limit: int) -> bytes:
    """The upload's first ``limit`` + 1 bytes at most: more than ``limit`` means too large."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await upload.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class GatewayView(PostdeskView):
    accepts_uploads: ClassVar[bool] = True  # admin.limits: its forms are the upload class

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.form_overrides = {**cls.form_overrides, "certificate": FileField}
        cls.form_excluded_columns = ["certificate_name"]
        cls.form_columns = [c for c in cls.form_columns if c != "certificate_name"]

    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        upload = data.get("certificate")
        if isinstance(upload, UploadFile) and upload.filename:
            try:
                content = await read_bounded(upload, MAX_BYTES)
                data["certificate"] = read_certificate(upload.filename, content)
            except Refused as refusal:
                raise ValueError(refusal.render(gettext)) from refusal
            data["certificate_name"] = upload.filename
        else:
            data.pop("certificate", None)  # no new file: keep the stored one
        await super().on_model_change(data, model, is_created, request)
