"""Request body limits (``admin.limits``) through the app, and under a real uvicorn: a 20 MB
JSON body and a 50 MB upload are refused with 413 while the server's memory stays flat."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers, UploadFile
from starlette.requests import Request
from starlette.testclient import TestClient

from admin.limits import MIB, BodyLimits
from services.certificates import MAX_BYTES
from tests.conftest import ROOT, SECRET_KEY
from tests.test_secrets import GATEWAY_FORM

LIMITS = BodyLimits()
UPLOAD_PATH = "/admin/payment_gateways/create"
BOUNDARY = "postdesk-test-boundary"


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def _json_body(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON object of ``size`` bytes, made as it is sent: no side ever holds it whole."""
    head, tail = b'{"lines": [], "discount_code": "', b'"}'
    yield head
    left = size - len(head) - len(tail)
    block = b"a" * chunk
    while left > 0:
        yield block[:left]
        left -= chunk
    yield tail


def _upload_body(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart form with one ``size``-byte certificate file, made as it is sent."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"certificate\"; "
           f"filename=\"big.pem\"\r\nContent-Type: application/x-pem-file\r\n\r\n").encode()
    block = b"A" * chunk
    left = size
    while left > 0:
        yield block[:left]
        left -= chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _upload_length(size: int) -> int:
    return sum(len(part) for part in _upload_body(0)) + size


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"Content-Type": "application/json"}


# --- through the app ------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_an_api_body_over_its_limit_is_413_in_the_error_shape(client: TestClient,
                                                               chunked: bool) -> None:
    body = b"".join(_json_body(LIMITS.api + 1))
    content: Any = iter([body]) if chunked else body  # an iterator goes without Content-Length
    response = client.post("/api/v1/quote", content=content,
                           headers={**JSON, "Accept-Language": "ru"})
    assert response.status_code == 413, response.text
    assert ("content-length" in response.request.headers) is not chunked
    error = response.json()["error"]
    assert error["code"] == "body_too_large" and "1" in error["message"]
    # Just under the limit the API reads it (and refuses the cart: no key, no lines).
    under = client.post("/api/v1/quote", content=b"".join(_json_body(LIMITS.api)),
                        headers=JSON)
    assert under.status_code == 401, under.text


def test_admin_forms_and_uploads_have_their_own_limits(signed_in: Any) -> None:
    admin = signed_in("administrator")
    between = LIMITS.upload + MIB // 2  # over the upload limit, under the forms' one
    assert LIMITS.upload < between < LIMITS.form
    # A form of that size is read (and refused for its own reasons, not its size)...
    form = {"csrf_token": admin.token, "kind": "no-such-kind", "description": "x" * between}
    response = admin.client.post("/admin/payment_methods/create", data=form,
                                 follow_redirects=False)
    assert response.status_code == 400, response.text[:200]
    # ...but the gateway's form, which takes a file, stops at the upload limit.
    response = admin.client.post(UPLOAD_PATH, data={**GATEWAY_FORM, "csrf_token": admin.token},
                                 files={"certificate": ("big.pem", b"A" * between)},
                                 headers={"Accept-Language": "ru"}, follow_redirects=False)
    assert response.status_code == 413, response.text[:200]
    assert response.headers["content-type"].startswith("text/plain")
    assert "1" in response.text
    too_big = admin.client.post("/admin/payment_methods/create",
                                data={**form, "description": "x" * (LIMITS.form + 1)})
    assert too_big.status_code == 413 and "2" in too_big.text


def test_a_certificate_over_64_kb_is_refused_by_the_form(signed_in: Any) -> None:
    admin = signed_in("administrator")
    response = admin.client.post(
        UPLOAD_PATH, data={**GATEWAY_FORM, "csrf_token": admin.token, "name": "big-cert"},
        files={"certificate": ("big.pem", b"A" * (MAX_BYTES * 3))}, follow_redirects=False)
    assert response.status_code == 400 and "64 KB" in response.text


def test_the_gateway_form_reads_a_large_file_only_up_to_its_limit(app: Any,
                                                                   tmp_path: Path) -> None:
    """The view's own read stops one byte past 64 KB, whatever the file's size."""
    view = next(v for v in app.state.admin.views
                if getattr(v, "identity", "") == "payment_gateways")
    spool: Any = SpooledTemporaryFile(max_size=MIB)
    spool.truncate(50 * MIB)  # a sparse 50 MB file
    spool.seek(0)
    upload = UploadFile(spool, filename="big.pem", headers=Headers({}))
    request = Request({"type": "http", "method": "POST", "path": UPLOAD_PATH, "headers": []})
    with pytest.raises(ValueError, match="64 KB"):
        asyncio.run(view.on_model_change({"certificate": upload}, object(), True, request))
    assert spool.tell() == MAX_BYTES + 1


# --- under a real server ------------------------------------------------------------------

SERVER = """
import socket, sys
import uvicorn
from admin.app import create_app
sock = socket.socket(fileno=int(sys.argv[1]))
uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off")).run(
    sockets=[sock])
"""


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of the process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@pytest.fixture
def server(engine: Any, database_url: str) -> Iterator[tuple[str, int]]:
    """The whole app under uvicorn in its own process, on a socket bound here (no port race)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    env = {**os.environ, "POSTDESK_DATABASE_URL": database_url,
           "POSTDESK_SECRET_KEY": SECRET_KEY, "POSTDESK_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(sock.fileno())], cwd=ROOT,
                               env=env, pass_fds=[sock.fileno()])
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        sock.close()


def test_huge_bodies_are_refused_without_the_server_growing(server: tuple[str, int]) -> None:
    url, pid = server
    with httpx.Client(base_url=url, timeout=60) as http:
        # Warm up every path a refusal takes with bodies just over the limits, declared and
        # chunked: what follows costs no more than they did, whatever its size.
        for _ in range(2):
            for declared in (b"".join, iter):
                http.post("/api/v1/quote", content=declared(_json_body(LIMITS.api + 1)),
                          headers=JSON)
                http.post(UPLOAD_PATH, content=declared(_upload_body(LIMITS.upload + 1)),
                          headers=MULTIPART)
        before = _memory_kb(pid)
        sent = 0
        for chunked in (True, False):
            api_size, upload_size = 20 * MIB, 50 * MIB
            api_headers = {**JSON} if chunked else {**JSON, "Content-Length": str(api_size)}
            response = http.post("/api/v1/quote", content=_json_body(api_size),
                                 headers=api_headers)
            assert response.status_code == 413, response.text
            assert response.json()["error"]["code"] == "body_too_large"
            upload_headers = {**MULTIPART} if chunked else {
                **MULTIPART, "Content-Length": str(_upload_length(upload_size))}
            response = http.post(UPLOAD_PATH, content=_upload_body(upload_size),
                                 headers=upload_headers)
            assert response.status_code == 413, response.text
            sent += api_size + upload_size
        after = _memory_kb(pid)
        assert http.get("/healthz").status_code == 200
    print(f"\n{sent // MIB} MB sent and refused; server VmRSS {before['VmRSS']} -> "
          f"{after['VmRSS']} kB, VmHWM (peak) {before['VmHWM']} -> {after['VmHWM']} kB")
    assert after["VmHWM"] - before["VmHWM"] < 4 * 1024, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 4 * 1024, (before, after)
