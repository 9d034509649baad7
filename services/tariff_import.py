"""The tariff price file (XLSX or CSV): checked in full, then applied whole (R-RULE-8).

Columns, by header name in any order and case (row 1): ``zone`` (the zone's number 1–10 or its
code), ``size`` (S, M, L, XL; empty = every size), ``pickup``, ``delivery``, ``storage`` (the
free storage days' price), ``storage_days``, ``unused`` (a reserved cell never used),
``extra_day`` (each day beyond the storage days), ``currency``. A file whose first bytes are a
ZIP archive is read as XLSX (the first sheet), anything else as CSV (UTF-8, a BOM allowed,
comma or semicolon). Empty rows are skipped; rows are numbered as the spreadsheet shows them
(the header is row 1).

Like ``config load`` (``services.config_io``): ``check_tariffs`` parses every row and collects
EVERY problem with its row and column — an unknown zone, an unknown size, a bad number, a
negative price, more decimals than the currency has, storage days not a whole number from 1 to
365, an unknown currency, a (zone, size) already on an earlier row, a missing column — and
raises ``TariffFileInvalid`` with all of them; nothing is applied. Otherwise ``load_tariffs``
upserts the rows by (zone, size) in the caller's transaction (an existing row gets the file's
prices, a missing one is added; rows not in the file stay as they are) and returns how many
were added and updated.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from locales import ascii_number
from schema.lockers import CellSize, LockerTariff, Zone
from schema.people import CurrencyRow
from services.errors import Refused

COLUMNS = ("zone", "size", "pickup", "delivery", "storage", "storage_days", "unused",
           "extra_day", "currency")
PRICES = {"pickup": "pickup_price", "delivery": "delivery_price",
          "storage": "storage_price_3_days", "unused": "unused_price",
          "extra_day": "extra_day_price"}
MAX_ROWS = 10_000
MAX_PRICE = Decimal("1000000000")


@dataclass(frozen=True)
class Problem:
    text: str
    params: dict[str, Any]

    def render(self, gettext: Callable[[str], str]) -> str:
        return gettext(self.text) % self.params


class TariffFileInvalid(Refused):
    """The file was refused whole; ``problems`` lists every one (row and column)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("Nothing was imported: %(count)s problem(s) in the file.",
                         count=len(problems))
        self.problems = problems

    def render_all(self, gettext: Callable[[str], str]) -> list[str]:
        return [p.render(gettext) for p in self.problems]


@dataclass(frozen=True)
class TariffLine:
    row: int
    zone_id: int
    size: CellSize | None
    prices: dict[str, Decimal]
    storage_days: int
    currency: str


@dataclass(frozen=True)
class Loaded:
    added: int
    updated: int


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {column: text}) of every non-empty row after the header."""
    try:
        table = _xlsx(data) if data[:4] == b"PK\x03\x04" else _csv(data)
    except (ValueError, KeyError, zipfile.BadZipFile, csv.Error, UnicodeDecodeError) as exc:
        raise TariffFileInvalid([Problem("The file could not be read as XLSX or CSV: "
                                         "%(error)s", {"error": str(exc)[:200]})]) from None
    if not table:
        raise TariffFileInvalid([Problem("The file has no tariff rows.", {})])
    header = [str(h or "").strip().lower() for h in table[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TariffFileInvalid([Problem(
            "The file has no column %(column)s (the columns are: %(columns)s).",
            {"column": c, "columns": ", ".join(COLUMNS)}) for c in missing])
    rows = []
    for number, cells in enumerate(table[1:MAX_ROWS + 1], start=2):
        values = {h: str(cells[i] if i < len(cells) and cells[i] is not None else "").strip()
                  for i, h in enumerate(header) if h in COLUMNS}
        if any(values.values()):
            rows.append((number, values))
    if not rows:
        raise TariffFileInvalid([Problem("The file has no tariff rows.", {})])
    return rows


def _csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _xlsx(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheet = book.worksheets[0]
    # A number cell comes as int or float: written back as its shortest text (0.1, not
    # 0.1000000000000000055), which Decimal then reads exactly.
    return [[repr(v) if isinstance(v, float) else v for v in row]
            for row in sheet.iter_rows(values_only=True)]


def check_tariffs(session: Session, rows: list[tuple[int, dict[str, str]]]) -> list[TariffLine]:
    """Every row parsed and checked; ``TariffFileInvalid`` with every problem, or the lines."""
    zones: dict[str, int] = {}
    for zone in session.scalars(select(Zone)):
        zones[str(zone.number)] = zone.id
        zones[zone.code.strip().lower()] = zone.id
    decimals = {code: int(d) for code, d in session.execute(
        select(CurrencyRow.code, CurrencyRow.decimals))}
    problems: list[Problem] = []
    seen: dict[tuple[int, CellSize | None], int] = {}
    lines = []
    for number, values in rows:
        bad = len(problems)
        zone_text = ascii_number(values["zone"]).strip().lower()
        zone_id = zones.get(zone_text)
        if zone_id is None:
            problems.append(Problem("Row %(row)s, zone: there is no zone %(value)s.",
                                    {"row": number, "value": values["zone"] or "—"}))
        size: CellSize | None = None
        if values["size"]:
            try:
                size = CellSize(values["size"].lower())
            except ValueError:
                problems.append(Problem(
                    "Row %(row)s, size: %(value)s is not a cell size (S, M, L, XL, or empty "
                    "for every size).", {"row": number, "value": values["size"]}))
        currency = values["currency"].upper()
        if currency not in decimals:
            problems.append(Problem("Row %(row)s, currency: %(value)s is not a currency of "
                                    "the shop.", {"row": number, "value": values["currency"]
                                                  or "—"}))
        places = decimals.get(currency, 2)
        prices: dict[str, Decimal] = {}
        for column, field in PRICES.items():
            price = _price(values[column], number, column, currency, places, problems)
            if price is not None:
                prices[field] = price
        days = ascii_number(values["storage_days"])
        if not (days.isdigit() and 1 <= int(days) <= 365):
            problems.append(Problem("Row %(row)s, storage_days: %(value)s is not a whole number "
                                    "of days from 1 to 365.",
                                    {"row": number, "value": values["storage_days"] or "—"}))
        if zone_id is not None and (size is not None or not values["size"]):
            key = (zone_id, size)
            if key in seen:
                problems.append(Problem(
                    "Row %(row)s: zone %(zone)s, size %(size)s is already on row %(first)s.",
                    {"row": number, "zone": values["zone"],
                     "size": size.value.upper() if size else "—", "first": seen[key]}))
            else:
                seen[key] = number
        if len(problems) == bad and zone_id is not None:
            lines.append(TariffLine(number, zone_id, size, prices, int(days), currency))
    if problems:
        raise TariffFileInvalid(problems)
    return lines


def _price(text: str, row: int, column: str, currency: str, places: int,
           problems: list[Problem]) -> Decimal | None:
    raw = ascii_number(text).replace(" ", "").replace(",", ".")
    try:
        value = Decimal(raw)
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems.append(Problem("Row %(row)s, %(column)s: %(value)s is not a number.",
                                {"row": row, "column": column, "value": text or "—"}))
        return None
    if value < 0:
        problems.append(Problem("Row %(row)s, %(column)s: a price cannot be negative "
                                "(%(value)s).", {"row": row, "column": column, "value": text}))
        return None
    if value > MAX_PRICE:
        problems.append(Problem("Row %(row)s, %(column)s: %(value)s is too large for a price.",
                                {"row": row, "column": column, "value": text}))
        return None
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        problems.append(Problem("Row %(row)s, %(column)s: %(value)s has more decimal places "
                                "than %(currency)s has (%(places)s).",
                                {"row": row, "column": column, "value": text,
                                 "currency": currency, "places": places}))
        return None
    return value


def load_tariffs(session: Session, data: bytes) -> Loaded:
    """Check the whole file, then upsert its rows by (zone, size); nothing when refused."""
    lines = check_tariffs(session, read_rows(data))
    added = updated = 0
    for line in lines:
        row = session.scalar(select(LockerTariff).where(
            LockerTariff.zone_id == line.zone_id,
            LockerTariff.size.is_(None) if line.size is None else LockerTariff.size == line.size))
        if row is None:
            row = LockerTariff(zone_id=line.zone_id, size=line.size)
            session.add(row)
            added += 1
        else:
            updated += 1
        for field, value in line.prices.items():
            setattr(row, field, value)
        row.storage_days, row.currency = line.storage_days, line.currency
    session.flush()
    return Loaded(added, updated)
