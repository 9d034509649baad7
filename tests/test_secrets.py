"""Gateway and postal-system secrets: encrypted at rest, never shown back; certificates are
checked files; a wrong key is an answer, not a traceback; rotation to a new key."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount
from starlette.testclient import TestClient

from admin.app import create_app
from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from postdesk.settings import Settings
from schema.base import Encrypted, SecretKeyMismatch, configure_encryption
from schema.payments import PaymentGateway
from schema.shipping import PostalSystem
from seed.demo import factories
from seed.loader import load_seed_data
from services.accounts import create_user
from services.certificates import read_certificate
from services.errors import Refused
from services.secrets import RotationFailed, encrypted_columns, rotate_secrets
from tests.conftest import PASSWORD, SECRET_KEY, Browser, unique

GATEWAY_FORM = {
    "kind": "mellat", "terminal_id": "T-1", "username": "shop", "currency": "IRR",
    "conversion_rate": "100000", "conversion_op": "multiply", "rounding_digits": "2",
    "decimals": "0", "active": "y", "fee_percent": "0",
}


def _self_signed_pem() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _create(browser, name: str, files: dict | None = None, **extra: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": browser.token, **GATEWAY_FORM, "name": name, **extra}
    return browser.client.post("/admin/payment_gateways/create", data=data, files=files,
                               follow_redirects=False)


def test_secrets_are_encrypted_at_rest_and_never_shown(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    admin = signed_in("administrator")
    name = unique("gw")
    response = _create(admin, name, password="pa55-word-42", api_key="key-9f8e7d")
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        gateway = session.scalar(select(PaymentGateway).where(PaymentGateway.name == name))
        assert gateway.password == "pa55-word-42" and gateway.api_key == "key-9f8e7d"
        raw = session.execute(text("SELECT password, api_key FROM payment_gateways WHERE id = :i"),
                              {"i": gateway.id}).one()
    assert "pa55-word-42" not in raw[0] and "key-9f8e7d" not in raw[1]
    for url in (f"/admin/payment_gateways/edit/{gateway.id}",
                f"/admin/payment_gateways/details/{gateway.id}",
                "/admin/payment_gateways/list", "/admin/payment_gateways/exports/csv"):
        page = admin.get(url).text
        assert "pa55-word-42" not in page and "key-9f8e7d" not in page, url


def test_saving_without_retyping_keeps_the_secret(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    import re

    admin = signed_in("administrator")
    name = unique("gw")
    _create(admin, name, password="keep-me")
    with factory() as session:
        gateway = session.scalar(select(PaymentGateway).where(PaymentGateway.name == name))
    page = admin.get(f"/admin/payment_gateways/edit/{gateway.id}").text
    version = re.search(r'name="version"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="version"', page)
    response = admin.client.post(f"/admin/payment_gateways/edit/{gateway.id}", data={
        "csrf_token": admin.token, **GATEWAY_FORM, "name": name, "terminal_id": "T-2",
        "password": "", "version": version.group(1)}, follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        stored = session.get(PaymentGateway, gateway.id)
        assert stored.terminal_id == "T-2" and stored.password == "keep-me"


def test_certificate_upload_accepts_only_parseable_pem_or_json(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    admin = signed_in("administrator")
    refused = [
        ("cert.txt", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        ("cert.pem", b"not a certificate at all"),
        ("cert.json", b"{not json"),
    ]
    for filename, content in refused:
        name = unique("gw")
        response = _create(admin, name, files={"certificate": (filename, content)})
        assert response.status_code == 400, filename
        with factory() as session:
            assert session.scalar(select(PaymentGateway).where(
                PaymentGateway.name == name)) is None
    pem = _self_signed_pem()
    for filename, content in (("gateway.pem", pem),
                              ("gateway.json", json.dumps({"key": "v"}).encode())):
        name = unique("gw")
        response = _create(admin, name, files={"certificate": (filename, content)})
        assert response.status_code == 302, (filename, response.text[-2000:])
        with factory() as session:
            stored = session.scalar(select(PaymentGateway).where(PaymentGateway.name == name))
            assert stored.certificate == content.decode()
            assert stored.certificate_name == filename


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("a.crt", b"x", ".pem or .json"),
    ("a.pem", b"\xff\xfe", "not text"),
    ("a.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "PEM"),
    ("a.json", b"[]", "JSON"),
])
def test_certificate_refusals_say_what_is_wrong(filename: str, content: bytes,
                                                message: str) -> None:
    with pytest.raises(Refused, match=message):
        read_certificate(filename, content)


# --- the key the secrets were written under ---------------------------------------------------

KEY_A, KEY_B, KEY_C = "key-a-" + "a" * 40, "key-b-" + "b" * 40, "key-c-" + "c" * 40


@contextmanager
def encryption(key: str) -> Iterator[None]:
    """Read and write secrets under ``key`` inside the block (the tests' key again after)."""
    configure_encryption(key)
    try:
        yield
    finally:
        configure_encryption(SECRET_KEY)


def _add_secrets(factory: sessionmaker[Session], key: str, *, gateway: str | None = None,
                 postal: str | None = None) -> None:
    with encryption(key), factory() as session, factories.using_session(session):
        if gateway:
            factories.PaymentGatewayFactory(name=gateway, password=f"{gateway}-pw",
                                            api_key=f"{gateway}-key",
                                            certificate=f"{gateway}-cert")
        if postal:
            factories.PostalSystemFactory(name=postal, password=f"{postal}-pw",
                                          api_key=f"{postal}-key")
        session.commit()


def _stored(session: Session) -> dict[tuple[str, tuple[Any, ...], str], str]:
    """Every stored secret as its ciphertext, bypassing decryption."""
    found = {}
    for entry in encrypted_columns():
        pk = list(entry.table.primary_key.columns)
        rows = session.execute(select(*pk, *(type_coerce(c, Text).label(c.name)
                                             for c in entry.columns))).mappings()
        for row in rows:
            for column in entry.columns:
                if row[column.name]:
                    found[(entry.table.name, tuple(row[c.name] for c in pk), column.name)] = \
                        row[column.name]
    return found


def _plain(factory: sessionmaker[Session], key: str) -> dict[tuple[str, Any, str], str]:
    """Every secret decrypted under ``key`` through the Encrypted type (raises on a wrong key)."""
    found = {}
    with encryption(key), factory() as session:
        for entry in encrypted_columns():
            pk = entry.table.primary_key.columns.values()[0]
            for row in session.execute(select(pk, *entry.columns)).mappings():
                for column in entry.columns:
                    if row[column.name]:
                        found[(entry.table.name, row[pk.name], column.name)] = row[column.name]
    return found


@pytest.fixture(scope="module")
def shop_under_a(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, sessionmaker[Session]]:
    """A SQLite shop of its own whose secrets were written under KEY_A, with a superuser."""
    url = f"sqlite:///{tmp_path_factory.mktemp('key_a')}/shop.sqlite3"
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        load_seed_data(session)
        create_user(session, "boss", PASSWORD, "superuser")
    _add_secrets(factory, KEY_A, gateway="Mellat", postal="Belpost")
    return url, factory


def _cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")}
    clean.update({"POSTDESK_LOG_LEVEL": "WARNING", **env})
    return subprocess.run([sys.executable, "-m", "postdesk.cli", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_the_web_answers_a_wrong_key_with_what_to_do_not_a_500(
    shop_under_a: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = shop_under_a
    with factory() as session:
        gateway_id = session.scalar(
            select(PaymentGateway.id).where(PaymentGateway.name == "Mellat"))
    try:
        app = create_app(Settings(url, KEY_B, "WARNING", 3600, False, False),
                         factory.kw["bind"])
        api = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1")

        @api.get("/probe")  # stands for any endpoint that reads a secret
        def probe() -> dict[str, str]:
            with factory() as session:
                return {"password": session.get(PaymentGateway, gateway_id).password}

        with TestClient(app) as client:  # re-raises what the app does not handle
            browser = Browser(client)
            assert browser.login("boss").status_code == 302
            for page in (f"/admin/payment_gateways/details/{gateway_id}",
                         f"/admin/payment_gateways/edit/{gateway_id}",
                         "/admin/postal_systems/list"):
                response = client.get(page)
                assert response.status_code == 503, page
                assert "POSTDESK_SECRET_KEY" in response.text and "Traceback" not in response.text
                assert "<html" in response.text  # the admin's own error page
            answer = client.get("/api/v1/probe")
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "secret_key_mismatch"
            assert "POSTDESK_SECRET_FILE" in answer.json()["error"]["message"]
            assert client.get("/healthz").status_code == 200
            assert client.get("/admin/").status_code == 200  # what reads no secret works
    finally:
        configure_encryption(SECRET_KEY)


def test_config_dump_and_load_read_no_secret(
    shop_under_a: tuple[str, sessionmaker[Session]], tmp_path: Path,
) -> None:
    url, factory = shop_under_a
    env = {"POSTDESK_DATABASE_URL": url, "POSTDESK_SECRET_KEY": KEY_B}
    dumped = _cli(tmp_path, "config", "dump", "rules.yaml", **env)
    assert dumped.returncode == 0, dumped.stderr
    assert "Mellat" in (tmp_path / "rules.yaml").read_text()
    loaded = _cli(tmp_path, "config", "load", "rules.yaml", **env)
    assert loaded.returncode == 0, loaded.stderr
    assert _plain(factory, KEY_A)[("payment_gateways", 1, "password")] == "Mellat-pw"


def test_a_command_that_meets_a_wrong_key_says_so_in_one_line(
    shop_under_a: tuple[str, sessionmaker[Session]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import postdesk.runtime
    import services.config_io
    from postdesk.cli import main
    from postdesk.settings import get_settings

    url, _ = shop_under_a
    monkeypatch.setenv("POSTDESK_DATABASE_URL", url)
    monkeypatch.setenv("POSTDESK_SECRET_KEY", KEY_B)

    def reads_a_secret(session: Session) -> dict[str, Any]:  # any command touching a secret
        return {"passwords": [g.password for g in session.scalars(select(PaymentGateway))]}

    monkeypatch.setattr(services.config_io, "dump_config", reads_a_secret)
    caches = (get_settings, postdesk.runtime.engine, postdesk.runtime.session_factory)
    for cached in caches:
        cached.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["config", "dump", str(tmp_path / "rules.yaml")])
    finally:
        for cached in caches:
            cached.cache_clear()
        configure_encryption(SECRET_KEY)
    message = str(exited.value.code)
    assert message.startswith("postdesk: The stored secrets were encrypted with another")
    assert "comes from POSTDESK_SECRET_KEY" in message and "\n" not in message


# --- rotation ---------------------------------------------------------------------------------

def test_every_encrypted_column_is_found_from_the_metadata() -> None:
    found = {(e.table.name, c.name) for e in encrypted_columns() for c in e.columns}
    assert {("payment_gateways", "password"), ("payment_gateways", "api_key"),
            ("payment_gateways", "certificate"), ("postal_systems", "password"),
            ("postal_systems", "api_key")} <= found
    extra = MetaData()
    Table("vault", extra, Column("id", Integer, primary_key=True), Column("token", Encrypted))
    assert [(e.table.name, [c.name for c in e.columns]) for e in encrypted_columns(extra)] == \
        [("vault", ["token"])]


def test_rotation_reencrypts_every_secret_in_one_transaction(
    factory: sessionmaker[Session],
) -> None:
    gateway, postal, bad = unique("gwrot"), unique("psrot"), unique("psbad")
    _add_secrets(factory, KEY_A, gateway=gateway, postal=postal)
    # Tables rotate by name: payment_gateways is rewritten before this row stops the run.
    _add_secrets(factory, KEY_C, postal=bad)
    with factory() as session:
        before = _stored(session)
    old = [SECRET_KEY, KEY_A]  # what the other tests stored, and ours
    try:
        with pytest.raises(RotationFailed, match="postal_systems"):
            with factory() as session, session.begin():
                rotate_secrets(session, old, KEY_B)
        with factory() as session:
            assert _stored(session) == before
            session.execute(delete(PostalSystem).where(PostalSystem.name == bad))
            session.commit()
        with factory() as session, session.begin():
            counts = rotate_secrets(session, old, KEY_B)
        assert counts["payment_gateways"] >= 3 and counts["postal_systems"] >= 2
        under_b = _plain(factory, KEY_B)  # every secret opens under B...
        assert len(under_b) == len(before) - 2
        with factory() as session:
            rows = {("payment_gateways", session.scalar(
                        select(PaymentGateway.id).where(PaymentGateway.name == gateway))),
                    ("postal_systems", session.scalar(
                        select(PostalSystem.id).where(PostalSystem.name == postal)))}
        ours = {k: v for k, v in under_b.items() if k[:2] in rows}
        assert sorted(ours.values()) == sorted([f"{gateway}-pw", f"{gateway}-key",
                                                f"{gateway}-cert", f"{postal}-pw",
                                                f"{postal}-key"])
        for key in old:  # ...and none under the old keys
            with pytest.raises(SecretKeyMismatch):
                _plain(factory, key)
        with factory() as session, session.begin():  # a rerun (after a crash) is harmless
            rotate_secrets(session, old, KEY_B)
        assert _plain(factory, KEY_B) == under_b
    finally:
        with factory() as session, session.begin():
            rotate_secrets(session, [KEY_B, KEY_C, *old], SECRET_KEY)
            session.execute(delete(PaymentGateway).where(PaymentGateway.name == gateway))
            session.execute(delete(PostalSystem).where(PostalSystem.name.in_([postal, bad])))


@pytest.fixture
def sqlite_shop(tmp_path: Path) -> tuple[str, Path, sessionmaker[Session]]:
    """A shop set up by the commands, its generated key beside the database file."""
    url = f"sqlite:///{tmp_path}/shop.sqlite3"
    for command in ("migrate", "seed"):
        assert _cli(tmp_path, command, POSTDESK_DATABASE_URL=url).returncode == 0
    return url, tmp_path / "shop.sqlite3.secret", make_session_factory(make_engine(url))


def test_secrets_rotate_replaces_the_key_file_only_after_the_commit(
    sqlite_shop: tuple[str, Path, sessionmaker[Session]], tmp_path: Path,
) -> None:
    url, key_file, factory = sqlite_shop
    old_key = key_file.read_text().strip()
    _add_secrets(factory, old_key, gateway="Mellat", postal="Belpost")
    _add_secrets(factory, KEY_C, postal="Written under another key")
    with factory() as session:
        before = _stored(session)

    failed = _cli(tmp_path, "secrets", "rotate", POSTDESK_DATABASE_URL=url)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "postal_systems.password" in failed.stderr and "Nothing was changed" in failed.stderr
    with factory() as session:
        assert _stored(session) == before  # the gateway rewritten first was rolled back
    assert key_file.read_text().strip() == old_key
    pending = tmp_path / "shop.sqlite3.secret.new"
    new_key = pending.read_text().strip()  # kept: the next run uses the same new key

    with factory() as session, session.begin():
        session.execute(delete(PostalSystem).where(
            PostalSystem.name == "Written under another key"))
    # A crash after the commit and before the file was replaced: the rows are under the new
    # key already, the key file still holds the old one.
    with factory() as session, session.begin():
        rotate_secrets(session, [old_key], new_key)
    resumed = _cli(tmp_path, "secrets", "rotate", POSTDESK_DATABASE_URL=url)
    assert resumed.returncode == 0, resumed.stderr
    assert f"The new key is the one in {pending}" in resumed.stdout
    assert "5 secret(s) re-encrypted" in resumed.stdout
    assert key_file.read_text().strip() == new_key and not pending.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(_plain(factory, new_key).values()) == [
        "Belpost-key", "Belpost-pw", "Mellat-cert", "Mellat-key", "Mellat-pw"]
    with pytest.raises(SecretKeyMismatch):
        _plain(factory, old_key)

    again = _cli(tmp_path, "secrets", "rotate", POSTDESK_DATABASE_URL=url)
    assert again.returncode == 0, again.stderr
    newest = key_file.read_text().strip()
    assert newest not in (new_key, old_key)
    assert len(_plain(factory, newest)) == 5


def test_secrets_rotate_with_the_key_in_the_environment_writes_the_new_key_to_a_file(
    sqlite_shop: tuple[str, Path, sessionmaker[Session]], tmp_path: Path,
) -> None:
    url, key_file, factory = sqlite_shop
    unused = key_file.read_text()  # the variable wins; this file is neither read nor replaced
    _add_secrets(factory, KEY_A, gateway="Mellat")
    env = {"POSTDESK_DATABASE_URL": url, "POSTDESK_SECRET_KEY": KEY_A}
    refused = _cli(tmp_path, "secrets", "rotate", **env)
    assert refused.returncode == 1 and "--new-key-file" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    target = tmp_path / "keys" / "next.key"
    rotated = _cli(tmp_path, "secrets", "rotate", "--new-key-file", str(target), **env)
    assert rotated.returncode == 0, rotated.stderr
    assert f"POSTDESK_SECRET_FILE={target}" in rotated.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(_plain(factory, target.read_text().strip()).values()) == [
        "Mellat-cert", "Mellat-key", "Mellat-pw"]
    with pytest.raises(SecretKeyMismatch):
        _plain(factory, KEY_A)
    assert key_file.read_text() == unused
