"""Payment gateways: the certificate is uploaded as a file, checked, stored encrypted."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from wtforms import FileField

from admin.views import PostdeskView
from locales import gettext
from services.certificates import read_certificate
from services.errors import Refused


class GatewayView(PostdeskView):
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
                data["certificate"] = read_certificate(upload.filename, await upload.read())
            except Refused as refusal:
                raise ValueError(refusal.render(gettext)) from refusal
            data["certificate_name"] = upload.filename
        else:
            data.pop("certificate", None)  # no new file: keep the stored one
        await super().on_model_change(data, model, is_created, request)
