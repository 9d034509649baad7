"""A locker parcel's sticker as ZPL II, for thermal label printers (Zebra and compatibles).

The label is 100 × 150 mm at 203 dpi (8 dots per mm): ``^PW800`` wide, ``^LL1200`` long. It
carries what the PDF sticker carries (``reports/templates/documents/parcel_macros.html``): the
merchant, the locker (code, name, address), the cell, the recipient and phone, "cash on
delivery" with the amount only when the buyer still owes money, the barcode as Code 128
(``^BC``, the human-readable line printed by the printer) and as a QR code (``^BQ``, model 2,
error correction M, field data ``MA,<barcode>``).

Text is UTF-8 (``^CI28``) and every text field is written with ``^FH`` so that a ``^``, ``~`` or
``_`` in a name cannot end the field or start a command: those characters are sent as ``_XX``
hexadecimal escapes. Printers lay text out left to right and do not shape Arabic script, so a
Persian sticker for a thermal printer prints its labels in English; the PDF is the one to use
for a right-to-left label.
"""

from __future__ import annotations

from locales import format_money, translations
from reports.documents import ParcelData

DOTS_PER_MM = 8
WIDTH = 100 * DOTS_PER_MM
LENGTH = 150 * DOTS_PER_MM
_ESCAPED = {"^", "~", "_", "\\"}


def field(text: str) -> str:
    """``text`` as ``^FH`` field data: the characters ZPL reads as commands are hex-escaped,
    control characters dropped."""
    out = []
    for char in text:
        if char in _ESCAPED:
            out.append("".join(f"_{byte:02X}" for byte in char.encode("utf-8")))
        elif char.isprintable():
            out.append(char)
    return "".join(out)


def _text(x: int, y: int, height: int, text: str, width: int = WIDTH - 80) -> str:
    # ^FB wraps a long address over at most two lines instead of running off the label.
    return (f"^FO{x},{y}^A0N,{height},{height}^FB{width},2,0,L,0^FH^FD{field(text)}^FS")


def parcel_zpl(parcel: ParcelData, lang: str) -> str:
    """The ZPL II program printing ``parcel``'s 100 × 150 mm sticker."""
    # Thermal printers neither shape nor reorder right-to-left text (see the module docstring).
    lang = "en" if lang == "fa" else lang
    _ = translations(lang).gettext
    lines = ["^XA", "^CI28", f"^PW{WIDTH}", f"^LL{LENGTH}", "^LH0,0"]
    lines.append(_text(40, 30, 26, f"{_('From')}: {parcel.merchant}"))
    lines.append(f"^FO30,70^GB{WIDTH - 60},3,3^FS")
    lines.append(_text(40, 90, 24, _("Parcel locker"), 480))
    lines.append(_text(40, 120, 64, parcel.locker_code, 480))
    lines.append(_text(40, 190, 28, parcel.locker_name, 480))
    lines.append(_text(40, 225, 22, parcel.locker_address, 480))
    lines.append(_text(560, 90, 24, _("Cell"), 200))
    lines.append(_text(560, 120, 64, parcel.cell_code or "-", 200))
    if parcel.size:
        lines.append(_text(560, 190, 24, _(parcel.size), 200))
    lines.append(f"^FO30,285^GB{WIDTH - 60},3,3^FS")
    lines.append(_text(40, 305, 24, f"{_('Recipient')}:"))
    lines.append(_text(40, 340, 40, parcel.recipient_name))
    if parcel.recipient_phone:
        lines.append(_text(40, 390, 32, parcel.recipient_phone))
    if parcel.cash_to_collect > 0:
        amount = format_money(parcel.cash_to_collect, parcel.currency, lang)
        lines.append(f"^FO30,440^GB{WIDTH - 60},60,3^FS")
        lines.append(_text(45, 455, 34, f"{_('Cash on delivery')}: {amount}"))
    lines.append(f"^FO30,520^GB{WIDTH - 60},3,3^FS")
    # Code 128, 3-dot modules, 180 dots tall, the interpretation line printed below.
    lines.append(f"^FO60,560^BY3,3,180^BCN,180,Y,N,N^FH^FD{field(parcel.barcode)}^FS")
    # QR: model 2, 8 dots per module, error correction M, automatic input mode.
    lines.append(f"^FO40,840^BQN,2,8^FH^FDMA,{field(parcel.barcode)}^FS")
    lines.append("^XZ")
    return "\n".join(lines) + "\n"
