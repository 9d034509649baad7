"""Gateway certificates: only a parseable PEM or JSON file is accepted (R-RULE-6)."""

from __future__ import annotations

import json
import re

from services.errors import Refused

MAX_BYTES = 64 * 1024
_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\s+([A-Za-z0-9+/=\s]+?)\s+-----END \1-----", re.S
)


def read_certificate(filename: str, content: bytes) -> str:
    """The certificate's text, or a refusal that says what is wrong with the file."""
    name = filename.lower()
    if not name.endswith((".pem", ".json")):
        raise Refused("The certificate must be a .pem or .json file.")
    if len(content) > MAX_BYTES:
        raise Refused("The certificate file is larger than 64 KB.")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("The certificate file is not text.") from exc
    if name.endswith(".json"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Refused("The certificate file is not valid JSON.") from exc
        if not isinstance(parsed, dict) or not parsed:
            raise Refused("The certificate file is not valid JSON.")
        return text
    if not _valid_pem(text):
        raise Refused("The certificate file is not a valid PEM file.")
    return text


def _valid_pem(text: str) -> bool:
    import base64
    import binascii

    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        return False
    for label, body in blocks:
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return False
        if label.endswith("CERTIFICATE"):
            from cryptography import x509

            try:
                x509.load_der_x509_certificate(der)
            except ValueError:
                return False
    return True
