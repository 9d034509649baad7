"""Machine-readable marks on documents: Code 128 barcodes and QR codes.

Each symbol is a one-bit PNG with one pixel per module (a Code 128 symbol is one pixel tall),
embedded as a data URI and scaled up by CSS with ``image-rendering: pixelated`` (the PDF image
is then drawn without interpolation, so edges stay sharp at any size). A PNG of a few hundred
bytes costs WeasyPrint far less than an SVG of hundreds of rectangles, which matters on a sheet
of labels or a batch of a thousand stickers.

The human-readable text is printed by the template in the document's own font, never inside the
image, so no system font is ever asked for.
"""

from __future__ import annotations

import struct
import zlib
from base64 import b64encode
from collections.abc import Sequence
from functools import lru_cache

import segno
from barcode import get_barcode_class

_CODE128 = get_barcode_class("code128")
# Quiet zone on each side, in modules: the standard asks for at least ten.
QUIET_MODULES = 10
QR_BORDER = 4


def code128_pattern(text: str) -> str:
    """The bars of ``text`` as a string of "1" (bar) and "0" (space), one per module."""
    return str(_CODE128(text).build()[0])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_1bit(rows: Sequence[Sequence[bool]]) -> bytes:
    """A black-and-white PNG of ``rows`` (True = black), one pixel per cell."""
    height, width = len(rows), len(rows[0])
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter: none
        bits = 0
        for x in range(width):
            # Grayscale 1 bit: 0 is black.
            bits = (bits << 1) | (0 if row[x] else 1)
            if x % 8 == 7:
                raw.append(bits)
                bits = 0
        if width % 8:
            raw.append(bits << (8 - width % 8))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b""))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + b64encode(png).decode("ascii")


def code128_png(text: str) -> bytes:
    pattern = "0" * QUIET_MODULES + code128_pattern(text) + "0" * QUIET_MODULES
    return png_1bit([[module == "1" for module in pattern]])


def qr_png(text: str) -> bytes:
    # make_qr, never a Micro QR: phones and most scanners cannot read those.
    qr = segno.make_qr(text, error="m", boost_error=False)
    return png_1bit([[bool(v) for v in row] for row in qr.matrix_iter(border=QR_BORDER)])


@lru_cache(maxsize=4096)
def code128_uri(text: str) -> str:
    """A data URI of the Code 128 symbol, for ``<img src>``."""
    return _data_uri(code128_png(text))


@lru_cache(maxsize=4096)
def qr_uri(text: str) -> str:
    """A data URI of a QR code (error correction M, 4-module border), for ``<img src>``."""
    return _data_uri(qr_png(text))
