"""Gateway and postal-system secrets: encrypted at rest, never shown back; certificates are
checked files."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from schema.payments import PaymentGateway
from services.certificates import read_certificate
from services.errors import Refused
from tests.conftest import unique

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
