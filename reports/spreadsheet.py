"""One streaming spreadsheet writer: XLSX (xlsxwriter, constant memory) and CSV.

Rows of plain Python values go in, a file (or CSV bytes) comes out; the whole table is never in
memory. Every list export and every report workbook goes through here, so the guards live once:

- **Formula injection** (OWASP "CSV injection"): a text cell starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return is neutralized. In XLSX it is written as a text cell with Excel's
  quote-prefix flag (the value stays as typed, Excel shows it as text and keeps it text when the
  cell is edited); in CSV, which has no types, it gets a leading ``'``. Numbers (``int``,
  ``Decimal``, ``float``) are written as numbers, so a negative amount stays a number.
- **Excel's row limit**: past ``row_limit`` rows on a sheet (1,048,576 including the header) the
  table continues on a new sheet named ``"<title> (2)"`` with the caption and header repeated.
- **Types**: ``Decimal``/``int``/``float`` become numbers (``Column.kind == "money"`` adds a
  ``#,##0.00##`` format), ``date``/``datetime`` become real Excel dates (aware datetimes are
  shown in ``tz``, UTC by default), ``bool`` a boolean, ``None`` an empty cell, anything else
  its ``str()`` (a ``StrEnum`` its value: pass labels, translated, for people to read).

API::

    from reports.spreadsheet import Column, Sheet, SpreadsheetWriter, iter_csv, write_xlsx

    columns = [Column(_("Number")), Column(_("Total"), "money"), Column(_("Created"), "datetime")]
    write_xlsx("out.xlsx", [Sheet(_("Orders"), columns, rows)], rtl=is_rtl(lang))

    with SpreadsheetWriter(path_or_binary_file, rtl=True) as book:   # several sheets, charts
        table = book.add_table(Sheet(_("Orders per day"), columns, rows, caption=(_("May"),)))
        chart = book.workbook.add_chart({"type": "line"})
        chart.add_series({"categories": table.ref(0), "values": table.ref(1)})
        table.worksheet.insert_chart(1, len(columns) + 1, chart)

    for chunk in iter_csv(columns, rows):    # bytes: UTF-8 BOM + header, then row by row
        ...

``add_table`` returns a :class:`Table` saying where the rows landed (the last sheet's range when
the table rolled over), for chart series. Headers are taken as given: pass them translated
(``gettext``) in the reader's language. ``rtl=True`` lays every sheet out right-to-left (fa).
``Column.convert`` optionally maps a stored value to what is shown (a status code to its label,
an id to a name); it must give the same answer for the same value, because the writer remembers
the cells of repeated values instead of converting and escaping them again.

xlsxwriter's constant-memory mode keeps only the current row and writes each finished row to a
temporary file, so rows must arrive in order; the ``.xlsx`` is assembled when the writer closes.
"""

from __future__ import annotations

import codecs
import functools
import itertools
import math
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Literal

import xlsxwriter
import xlsxwriter.workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import (
    _datetime_to_excel_datetime,
    _preserve_whitespace,
    _utf16_len,
    _utf16_truncate,
    xl_col_to_name,
)
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet
from xlsxwriter.xmlwriter import XMLwriter

__all__ = [
    "EXCEL_MAX_ROWS", "FORMULA_TRIGGERS", "Column", "ColumnKind", "Sheet", "SpreadsheetWriter",
    "Table", "csv_from_columns", "csv_value", "iter_csv", "neutralize", "sheet_name",
    "write_csv", "write_xlsx",
]

EXCEL_MAX_ROWS = 1_048_576
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
# OWASP CSV injection: characters a spreadsheet may read as the start of a formula or command.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

ColumnKind = Literal["text", "number", "integer", "money", "date", "datetime", "bool"]

_FORMATS: dict[str, str] = {
    "money": "#,##0.00##",
    "number": "General",
    "integer": "0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
_WIDTHS: dict[str, float] = {
    "text": 24, "number": 12, "integer": 10, "money": 14, "date": 12, "datetime": 17, "bool": 8,
}
# Cells remembered per column for repeated values (statuses, currencies, names).
_SEEN_LIMIT = 20_000
# Values that cannot be remembered by value.
_UNHASHABLE = (list, dict, set, bytearray)

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """A column's header (already translated), what it holds, optionally its width, its Excel
    number format (defaults follow ``kind``) and a conversion of stored values to shown ones."""

    header: str
    kind: ColumnKind = "text"
    width: float | None = None
    num_format: str | None = None
    convert: Convert | None = None


@dataclass
class Sheet:
    """A table to write: its sheet title, columns, rows (any iterable, consumed once, in
    order) and optional caption lines written above the header on every sheet it fills."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    caption: Sequence[str] = ()


@dataclass
class Table:
    """Where a table landed. ``sheets`` lists every sheet it filled (more than one when it
    rolled over); ``first_row``/``last_row`` are the zero-based data rows on the last sheet."""

    worksheet: Worksheet
    sheets: list[str] = field(default_factory=list)
    first_row: int = 0
    last_row: int = -1
    rows: int = 0

    def ref(self, column: int) -> list[Any]:
        """A column's data range on the last sheet, in the list form chart series accept."""
        return [self.worksheet.get_name(), self.first_row, column, self.last_row, column]


def neutralize(text: str) -> str:
    """The CSV form of a text cell: a leading ``'`` when a spreadsheet would read a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def sheet_name(title: str, taken: Iterable[str] = ()) -> str:
    """A valid, unused Excel sheet name for ``title``: at most 31 characters, none of
    ``[]:*?/\\``, unique without regard to case (Excel's rule)."""
    base = " ".join(_SHEET_NAME_BAD.sub(" ", title).split()).strip("'") or "Sheet"
    used = {name.casefold() for name in taken}
    name = base[:_SHEET_NAME_MAX]
    number = 2
    while name.casefold() in used:
        suffix = f" ({number})"
        name = base[: _SHEET_NAME_MAX - len(suffix)] + suffix
        number += 1
    return name


def _base_type(value: Any) -> type | None:
    """The base type a subclass (a StrEnum, an IntEnum) is written as."""
    for base in (bool, datetime, date, Decimal, int, float, str):
        if isinstance(value, base):
            return base
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, str):
        return str.__str__(value)  # a StrEnum's value, not its repr-like str()
    return str(value)


class _Cells(dict[Any, str]):
    """One column's rendered cells (XML or CSV text), for a batch of values at a time.

    Text and converted values repeat (statuses, currencies, names, empty cells): those are
    rendered once and then found by C-level ``map`` lookups, up to a bound per column. A column
    whose values keep being new once the bound is reached (numbers, dates, order numbers) is
    rendered value by value from then on (by ``render_all`` when given: a whole batch at once).
    ``render(None)`` must give ``""``.
    """

    def __init__(self, render: Callable[[Any], str], converted: bool,
                 render_all: Callable[[Sequence[Any]], list[str]] | None = None) -> None:
        super().__init__({None: ""})
        self.render = render
        self.render_all = render_all
        self.converted = converted
        self.misses = 0
        self.unique = False

    def __missing__(self, value: Any) -> str:
        self.misses += 1
        text = self.render(value)
        if len(self) < _SEEN_LIMIT:
            self[value] = text
        return text

    def many(self, values: Sequence[Any]) -> list[str]:
        if not self.unique:
            kinds = set(map(type, values))
            kinds.discard(type(None))
            # By value only where equal values look alike: 1 and True do not.
            if (kinds <= {str} or self.converted) and not kinds & set(_UNHASHABLE):
                misses = self.misses
                texts = list(map(self.__getitem__, values))
                if len(self) >= _SEEN_LIMIT and self.misses - misses > 0.9 * len(values):
                    self.unique = True
                return texts
        if self.render_all is not None:
            return self.render_all(values)
        return list(map(self.render, values))


# --- XLSX ------------------------------------------------------------------------------------

class SpreadsheetWriter:
    """An XLSX workbook written row by row in constant memory.

    ``target`` is a path or a writable binary file. Use it as a context manager (or call
    :meth:`close`): the file is complete only after closing. ``row_limit`` is the number of rows
    a sheet may hold including caption and header (Excel's maximum by default; tests pass a
    small one). ``tz`` is the zone aware datetimes are shown in (Excel dates have no zone).

    ``zip_level`` is the zlib level the file is compressed with (xlsxwriter's default, 6, when
    None): 1 compresses a big sheet about four times faster into a file about a quarter larger.

    ``fast=True`` (the default) serializes data rows straight into the sheet's row stream (see
    :class:`_RowXml`); ``fast=False`` writes every cell through xlsxwriter's public ``write_*``
    calls. Both produce the same cells; the fast path is several times quicker and is what keeps
    a million-row export within its time budget.
    """

    def __init__(
        self,
        target: str | Path | IO[bytes],
        *,
        rtl: bool = False,
        row_limit: int = EXCEL_MAX_ROWS,
        tz: tzinfo = UTC,
        tmpdir: str | None = None,
        fast: bool = True,
        zip_level: int | None = None,
    ) -> None:
        if not 2 <= row_limit <= EXCEL_MAX_ROWS:
            raise ValueError(f"row_limit must be between 2 and {EXCEL_MAX_ROWS}")
        options: dict[str, Any] = {"constant_memory": True, "strings_to_numbers": False,
                                   "strings_to_formulas": False, "strings_to_urls": False}
        if tmpdir:
            options["tmpdir"] = tmpdir
        self.workbook: Workbook = _Workbook(
            str(target) if isinstance(target, Path) else target, options)
        self.workbook.zip_level = zip_level
        self.rtl = rtl
        self.row_limit = row_limit
        self.tz = tz
        self.fast = fast
        self._names: list[str] = []
        self._header = self.workbook.add_format({"bold": True, "bg_color": "#EEEEEE",
                                                 "bottom": 1, "text_wrap": True,
                                                 "valign": "top"})
        self._caption = self.workbook.add_format({"bold": True})
        self.quoted = self.workbook.add_format({"quote_prefix": True})
        self._formats: dict[str, Format] = {}
        self._closed = False

    def __enter__(self) -> SpreadsheetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if not self._names:
                # An empty workbook is not a valid file for Excel: keep one blank sheet.
                self.workbook.add_worksheet()
            self.workbook.close()

    def number_format(self, pattern: str) -> Format:
        """A cached cell format for an Excel number format pattern."""
        found = self._formats.get(pattern)
        if found is None:
            found = self._formats[pattern] = self.workbook.add_format({"num_format": pattern})
        return found

    def column_formats(self, column: Column) -> tuple[Format | None, Format, Format]:
        """The formats a column's numbers, dates and date-times are written with."""
        pattern = column.num_format or _FORMATS.get(column.kind)
        fmt = self.number_format(pattern) if pattern and pattern != "General" else None
        date_fmt = fmt if column.kind == "date" and fmt else self.number_format(_FORMATS["date"])
        datetime_fmt = (fmt if column.kind == "datetime" and fmt
                        else self.number_format(_FORMATS["datetime"]))
        return fmt, date_fmt, datetime_fmt

    def add_worksheet(self, title: str) -> Worksheet:
        """A new sheet with a valid unique name, laid out right-to-left when the book is."""
        name = sheet_name(title, self._names)
        self._names.append(name)
        worksheet = self.workbook.add_worksheet(name)
        if self.rtl:
            worksheet.right_to_left()
        return worksheet

    def add_table(self, sheet: Sheet) -> Table:
        """Write a table on a new sheet, continuing on further sheets past ``row_limit``."""
        columns = list(sheet.columns)
        head_rows = len(sheet.caption) + 1
        if head_rows >= self.row_limit:
            raise ValueError("row_limit leaves no room for data rows")
        per_sheet = self.row_limit - head_rows
        # What each column has rendered, kept for the whole table (all its sheets).
        seen: list[Any] = [None] * len(columns)
        rows = iter(sheet.rows)
        table = Table(worksheet=self._start_sheet(sheet, columns), first_row=head_rows)
        while True:
            table.sheets.append(table.worksheet.get_name())
            written = self._write_rows(table.worksheet, columns, seen, head_rows,
                                       itertools.islice(rows, per_sheet))
            table.rows += written
            table.last_row = head_rows + written - 1
            self._finish_sheet(table.worksheet, columns, head_rows, table.last_row)
            if written < per_sheet:
                return table
            upcoming = next(rows, _END)
            if upcoming is _END:
                return table
            rows = itertools.chain((upcoming,), rows)
            table.worksheet = self._start_sheet(sheet, columns)

    def _write_rows(self, worksheet: Worksheet, columns: list[Column],
                    seen: list[Any], first_row: int,
                    rows: Iterable[Sequence[Any]]) -> int:
        if self.fast and _RowXml.supports(worksheet):
            return _RowXml(self, worksheet, columns, seen).write(first_row, rows)
        writers = [self._cell_writer(column) for column in columns]
        row = first_row
        for values in rows:
            for col, (write, convert, value) in enumerate(
                    zip(writers, (c.convert for c in columns), values, strict=True)):
                if value is not None and convert is not None:
                    value = convert(value)
                if value is not None:
                    write(worksheet, row, col, value)
            row += 1
        return row - first_row

    def _start_sheet(self, sheet: Sheet, columns: list[Column]) -> Worksheet:
        worksheet = self.add_worksheet(sheet.title)
        for col, column in enumerate(columns):
            worksheet.set_column(col, col, column.width or _WIDTHS[column.kind])
        for row, line in enumerate(sheet.caption):
            worksheet.write_string(row, 0, line, self._caption)
        header_row = len(sheet.caption)
        for col, column in enumerate(columns):
            worksheet.write_string(header_row, col, column.header, self._header)
        worksheet.freeze_panes(header_row + 1, 0)
        return worksheet

    @staticmethod
    def _finish_sheet(worksheet: Worksheet, columns: list[Column], head_rows: int,
                      last_row: int) -> None:
        # The autofilter is kept apart from the streamed rows, so it may be set afterwards.
        if columns:
            worksheet.autofilter(head_rows - 1, 0, max(last_row, head_rows - 1),
                                 len(columns) - 1)

    def _cell_writer(self, column: Column) -> Callable[[Worksheet, int, int, Any], None]:
        """One function per column that writes any value through xlsxwriter's public API."""
        fmt, date_fmt, datetime_fmt = self.column_formats(column)
        quoted = self.quoted
        tz = self.tz

        def number(ws: Worksheet, row: int, col: int, value: Any) -> None:
            if isinstance(value, float) and not math.isfinite(value):
                ws.write_string(row, col, str(value))
            else:
                ws.write_number(row, col, value, fmt)

        def decimal(ws: Worksheet, row: int, col: int, value: Decimal) -> None:
            if value.is_finite():
                ws.write_number(row, col, float(value), fmt)
            else:
                ws.write_string(row, col, str(value))

        def text(ws: Worksheet, row: int, col: int, value: str) -> None:
            if value.startswith(FORMULA_TRIGGERS):
                ws.write_string(row, col, value, quoted)
            else:
                ws.write_string(row, col, value)

        def boolean(ws: Worksheet, row: int, col: int, value: bool) -> None:
            ws.write_boolean(row, col, value)

        def moment(ws: Worksheet, row: int, col: int, value: datetime) -> None:
            if value.tzinfo is not None:
                value = value.astimezone(tz).replace(tzinfo=None)
            ws.write_datetime(row, col, value, datetime_fmt)

        def day(ws: Worksheet, row: int, col: int, value: date) -> None:
            ws.write_datetime(row, col, value, date_fmt)

        handlers: dict[type, Callable[[Worksheet, int, int, Any], None]] = {
            str: text, int: number, float: number, Decimal: decimal, bool: boolean,
            datetime: moment, date: day,
        }

        def write(ws: Worksheet, row: int, col: int, value: Any) -> None:
            handler = handlers.get(type(value)) or handlers.get(_base_type(value), None)
            if handler is None or (handler is text and type(value) is not str):
                text(ws, row, col, _as_text(value))
            else:
                handler(ws, row, col, value)

        return write


class _Workbook(Workbook):
    """xlsxwriter's workbook with a choice of zlib level.

    xlsxwriter zips the package with ``zipfile.ZipFile`` at the default level and offers no
    option; at a million rows that is a fifth of the export's time. While this workbook stores
    itself, the ``ZipFile`` its module uses is swapped for one with the chosen level (under a
    lock, restored afterwards; another workbook zipping meanwhile merely waits).
    """

    zip_level: int | None = None
    _zip_lock = threading.Lock()

    def _store_workbook(self) -> None:
        level = self.zip_level
        if level is None:
            super()._store_workbook()
            return
        with self._zip_lock:
            original = xlsxwriter.workbook.ZipFile
            xlsxwriter.workbook.ZipFile = functools.partial(  # type: ignore[misc]
                zipfile.ZipFile, compresslevel=level)
            try:
                super()._store_workbook()
            finally:
                xlsxwriter.workbook.ZipFile = original  # type: ignore[misc]


_END = object()
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_LEAP_BUG_END = datetime(1900, 3, 1)
_LEAP_BUG_END_UTC = _EXCEL_LEAP_BUG_END.replace(tzinfo=UTC)
# What makes a text cell need more than pasting it between tags: XML specials, control
# characters (and text that looks like Excel's _xHHHH_ escape), edge whitespace.
_TEXT_NEEDS_WORK = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
_XLSX_STRING_MAX = 32767


def _excel_serial(value: datetime) -> float:
    """Excel's serial number of a naive date-time (days since 1899-12-30)."""
    if value < _EXCEL_LEAP_BUG_END:
        return float(_datetime_to_excel_datetime(value, False, False))
    delta = value - _EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


def _inline_text(value: str) -> tuple[str, str]:
    """A string as the body of ``<t>`` and the attribute it needs, escaped as xlsxwriter does."""
    if len(value) > _XLSX_STRING_MAX // 2 and _utf16_len(value) > _XLSX_STRING_MAX:
        value = _utf16_truncate(value, _XLSX_STRING_MAX)
    if not _TEXT_NEEDS_WORK.search(value):
        return value, ""
    value = XMLwriter._escape_control_characters(value)
    preserve = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), preserve


class _RowXml:
    """Serializes data rows straight into a constant-memory worksheet's row stream.

    xlsxwriter spends ~10 µs per cell (argument conversion, a cell tuple, attribute lists,
    escaping checks); a million-row export is ten million cells. In constant-memory mode a
    worksheet appends each finished row's XML to a temporary file (``row_data_fh``) and copies
    that file into the sheet when the workbook closes. This writes the same ``<row>``/``<c>``
    XML xlsxwriter would (inline strings, ``s`` style indexes from the same Format objects,
    numbers, booleans, date serials) into that file, then records the dimensions xlsxwriter
    needs. It relies on those internals, so :meth:`supports` checks for them and the writer
    falls back to the public API when they are missing; the tests read both paths back.
    """

    def __init__(self, book: SpreadsheetWriter, worksheet: Worksheet, columns: list[Column],
                 seen: list[Any]) -> None:
        self.worksheet = worksheet
        self.quoted_style = f' s="{book.quoted._get_xf_index()}"'
        for index, column in enumerate(columns):
            if seen[index] is None:
                seen[index] = _Cells(self._cell(book, column), column.convert is not None)
        self.cells: list[_Cells] = seen
        self.letters = [xl_col_to_name(col) for col in range(len(columns))]

    @staticmethod
    def supports(worksheet: Worksheet) -> bool:
        return bool(getattr(worksheet, "constant_memory", False)
                    and hasattr(worksheet, "row_data_fh") and hasattr(worksheet, "previous_row")
                    and hasattr(worksheet, "_write_single_row"))

    def write(self, first_row: int, rows: Iterable[Sequence[Any]], batch: int = 2000) -> int:
        worksheet = self.worksheet
        # Flush the header row xlsxwriter still holds, so ours follow it in the stream.
        worksheet._write_single_row(first_row)
        out = worksheet.row_data_fh
        cells, letters = self.cells, self.letters
        row = first_row
        rows = iter(rows)
        # A batch at a time, column by column (see _Cells), then each row's cells with their
        # references: the Python work per cell is one f-string.
        while batch_rows := list(itertools.islice(rows, batch)):
            rendered = [memory.many(values) for memory, values in
                        zip(cells, zip(*batch_rows, strict=True), strict=True)]
            buffer: list[str] = []
            append = buffer.append
            for xmls in zip(*rendered, strict=True):
                row += 1
                number = str(row)
                append(f'<row r="{number}">')
                for letter, xml in zip(letters, xmls, strict=True):
                    if xml:
                        append(f'<c r="{letter}{number}"{xml}')
                append("</row>")
            out.write("".join(buffer))
        if row > first_row:
            worksheet._check_dimensions(row - 1, len(cells) - 1)
            worksheet.previous_row = row
        return row - first_row

    def text(self, value: str) -> str:
        """A text cell's XML after ``<c r="..."``; neutralized with the quote-prefix style."""
        body, preserve = _inline_text(value)
        quoted = self.quoted_style if value.startswith(FORMULA_TRIGGERS) else ""
        return f'{quoted} t="inlineStr"><is><t{preserve}>{body}</t></is></c>'

    def _cell(self, book: SpreadsheetWriter, column: Column) -> Callable[[Any], str]:
        """A column's writer of any value: the cell's XML after ``<c r="..."`` ('' for none)."""
        fmt, date_fmt, datetime_fmt = book.column_formats(column)
        style = f' s="{fmt._get_xf_index()}"' if fmt is not None else ""
        date_style = f' s="{date_fmt._get_xf_index()}"'
        datetime_style = f' s="{datetime_fmt._get_xf_index()}"'
        tz = book.tz
        convert = column.convert
        # Aware minus aware is exact in UTC; other zones need the wall-clock time first.
        utc_epoch = (_EXCEL_EPOCH.replace(tzinfo=UTC) if tz.utcoffset(None) == timedelta(0)
                     else None)
        text = self.text

        def integer(value: int) -> str:
            return f"{style}><v>{value:d}</v></c>"

        def real(value: float) -> str:
            if not math.isfinite(value):
                return text(str(value))
            return f"{style}><v>{value!r}</v></c>"

        def decimal(value: Decimal) -> str:
            if not value.is_finite():
                return text(str(value))
            return f"{style}><v>{value:f}</v></c>"

        def boolean(value: bool) -> str:
            return f' t="b"><v>{value:d}</v></c>'

        def moment(value: datetime) -> str:
            if value.tzinfo is None:
                serial = _excel_serial(value)
            elif utc_epoch is not None and value >= _LEAP_BUG_END_UTC:
                delta = value - utc_epoch
                serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
            else:
                serial = _excel_serial(value.astimezone(tz).replace(tzinfo=None))
            return f"{datetime_style}><v>{serial!r}</v></c>"

        def day(value: date) -> str:
            serial = _excel_serial(datetime(value.year, value.month, value.day))
            return f"{date_style}><v>{serial!r}</v></c>"

        handlers: dict[type, Callable[[Any], str]] = {
            str: text, int: integer, float: real, Decimal: decimal, bool: boolean,
            datetime: moment, date: day,
        }
        get = handlers.get

        def cell(value: Any) -> str:
            if value is not None and convert is not None:
                value = convert(value)
            if value is None:
                return ""
            handler = get(type(value))
            if handler is None:
                base = _base_type(value)
                handler = get(base) if base is not None and base is not str else None
                if handler is None:
                    return text(_as_text(value))
            return handler(value)

        return cell


def write_xlsx(
    target: str | Path | IO[bytes],
    sheets: Iterable[Sheet],
    *,
    rtl: bool = False,
    row_limit: int = EXCEL_MAX_ROWS,
    tz: tzinfo = UTC,
) -> list[Table]:
    """Write ``sheets`` into one workbook at ``target``; returns where each table landed."""
    with SpreadsheetWriter(target, rtl=rtl, row_limit=row_limit, tz=tz) as book:
        return [book.add_table(sheet) for sheet in sheets]


# --- CSV -------------------------------------------------------------------------------------

def csv_value(value: Any, tz: tzinfo = UTC) -> str:
    """A value as CSV text: numbers plain (``-12.50``), dates ISO, text neutralized."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return neutralize(_as_text(value))


def _csv_plain(tz: tzinfo) -> dict[type, Callable[[Any], str]]:
    """Writers of the common non-text types, without csv_value's checks."""

    def moment(value: datetime) -> str:
        if value.tzinfo is not None:
            value = (value if value.tzinfo is tz else value.astimezone(tz)).replace(tzinfo=None)
        return value.isoformat(" ", "seconds")

    return {str: neutralize, int: str, float: repr, Decimal: lambda value: f"{value:f}",
            datetime: moment, date: date.isoformat, bool: lambda value: "1" if value else "0"}


def _csv_plain_all(tz: tzinfo) -> dict[type, Callable[[Sequence[Any]], list[str]]]:
    """The same writers for a batch of values of one type, as C-level maps where the type
    allows (a million order numbers, amounts and dates: seconds saved)."""
    one = _csv_plain(tz)

    def texts(values: Sequence[str]) -> list[str]:
        if any(map(str.startswith, values, repeat(FORMULA_TRIGGERS))):
            return list(map(neutralize, values))
        return list(values)

    def moments(values: Sequence[datetime]) -> list[str]:
        if set(map(attrgetter("tzinfo"), values)) == {None}:
            return list(map(datetime.isoformat, values, repeat(" "), repeat("seconds")))
        return list(map(one[datetime], values))

    found: dict[type, Callable[[Sequence[Any]], list[str]]] = {
        kind: functools.partial(_map_list, write) for kind, write in one.items()}
    found.update({str: texts, datetime: moments,
                  Decimal: lambda values: list(map(format, values, repeat("f")))})
    return found


def _map_list(write: Callable[[Any], str], values: Sequence[Any]) -> list[str]:
    return list(map(write, values))


def iter_csv(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    tz: tzinfo = UTC,
    batch: int = 2000,
) -> Iterator[bytes]:
    """CSV as UTF-8 with a BOM (so Excel reads Cyrillic and Persian), yielded in chunks of
    ``batch`` rows as they are produced. Headers are neutralized like any other text."""
    rows = iter(rows)
    batches = iter(lambda: list(itertools.islice(rows, batch)), [])
    return csv_from_columns(columns, (list(zip(*chunk, strict=True)) for chunk in batches), tz=tz)


def csv_from_columns(columns: Sequence[Column], chunks: Iterable[Sequence[Sequence[Any]]],
                     *, tz: tzinfo = UTC) -> Iterator[bytes]:
    """:func:`iter_csv` for rows that arrive as chunks of columns (each chunk a sequence of
    one value sequence per column), as a database result is easiest turned column-wise."""
    yield codecs.BOM_UTF8 + _csv_lines([_csv_quoted([neutralize(c.header)]) for c in columns])

    # Column by column over a batch of rows (see _Cells): a Python loop per cell would cost
    # more than reading the rows.
    plain = _csv_plain(tz)

    def renderer(convert: Convert | None) -> Callable[[Any], str]:
        def render(value: Any) -> str:
            if value is not None and convert is not None:
                value = convert(value)
            if value is None:
                return ""
            found = plain.get(type(value))
            return found(value) if found is not None else csv_value(value, tz)

        return render

    plain_all = _csv_plain_all(tz)

    def batch_renderer(convert: Convert | None) -> Callable[[Sequence[Any]], list[str]]:
        render, render_shown = renderer(convert), renderer(None)

        def render_all(values: Sequence[Any]) -> list[str]:
            # A batch of one type without gaps (order numbers, amounts, dates) is rendered by
            # that type's batch writer.
            if None in values:
                return list(map(render, values))
            if convert is not None:
                values = list(map(convert, values))
            kinds = set(map(type, values))
            found = plain_all.get(kinds.pop()) if len(kinds) == 1 else None
            return found(values) if found is not None else list(map(render_shown, values))

        return render_all

    cells = [_Cells(renderer(c.convert), c.convert is not None, batch_renderer(c.convert))
             for c in columns]
    for chunk in chunks:
        if chunk and chunk[0]:
            yield _csv_lines([_csv_quoted(memory.many(values))
                              for memory, values in zip(cells, chunk, strict=True)])


_CSV_SPECIAL = re.compile(r'[",\r\n]')


def _csv_lines(columns: list[list[str]]) -> bytes:
    """Lines of quoted fields, given column by column."""
    if len(columns) == 1:
        # A lone empty field is written "" (as the csv module does), or the line would be blank.
        columns = [[text or '""' for text in columns[0]]]
    return ("\r\n".join(map(",".join, zip(*columns, strict=True))) + "\r\n").encode()


def _csv_quoted(texts: list[str]) -> list[str]:
    """A column's cells as CSV fields, quoted as the csv module's QUOTE_MINIMAL quotes them.
    One search over the whole column decides whether any cell needs it (numbers, dates and
    most text never do)."""
    if not _CSV_SPECIAL.search("\x00".join(texts)):
        return texts
    return ['"' + text.replace('"', '""') + '"' if _CSV_SPECIAL.search(text) else text
            for text in texts]


def write_csv(
    target: str | Path | IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    tz: tzinfo = UTC,
) -> int:
    """Write a CSV file; returns the number of bytes written."""
    if isinstance(target, str | Path):
        with open(target, "wb") as fp:
            return write_csv(fp, columns, rows, tz=tz)
    size = 0
    for chunk in iter_csv(columns, rows, tz=tz):
        target.write(chunk)
        size += len(chunk)
    return size
