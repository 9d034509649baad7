"""Top-ups of merchants' prepaid balances: one recorded by hand, or a bank statement's lines.

``record_top_up`` posts one DEPOSIT through ``services.ledger.post`` (the only writer of
entries and balances) with the bank's reference and ``at`` = the payment's date (midnight UTC).
The amount must be greater than zero and exact in the merchant's currency (no more decimal
places than ``currencies.decimals``, 2 when the currency is not listed). A bank reference
already applied is refused with a clear message, checked first; the unique
``(kind, reference)`` constraint is the guard when two people apply it at the same moment (the
post runs in a savepoint, so the loser gets the same refusal and nothing of it is written).

A deposit that leaves the balance above the merchant's ``low_balance_threshold`` clears
``low_balance_notified_at``: the next time the balance falls to the threshold the merchant is
warned again.

A bank statement is a CSV (UTF-8, with or without BOM; comma, semicolon or tab separated) with
a header naming the columns ``date, amount, reference, purpose, payer`` in any order (more
columns are ignored). ``reference`` is the bank's own reference of the line; ``purpose`` is
free text that holds the merchant's ``payment_reference`` (matched as a whole word, case
insensitive). ``check_statement`` reads the whole file and lists every problem (a bad date or
amount, zero or negative, more decimals than the currency has, no reference, a reference
repeated in the file, a purpose matching no merchant or two merchants) and raises
``StatementInvalid`` with all of them; nothing is applied then. ``import_statement`` checks
first, then applies each line once: a line whose bank reference is already in the ledger is
reported as "already applied" and skipped, not an error — importing the same file twice
applies nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from locales import parse_amount
from schema.base import N_
from schema.lockers import LedgerEntry, LedgerKind
from schema.people import Merchant
from services import ledger
from services.actor import Actor
from services.errors import Refused
from services.shop_settings import currency_places

# Larger than any real transfer, smaller than the Money column holds.
MAX_AMOUNT = Decimal("1000000000000")
MAX_REFERENCE = 100  # LedgerEntry.reference
MAX_FILE_BYTES = 2 * 1024 * 1024
COLUMNS = ("date", "amount", "reference", "purpose", "payer")


class TopUpRefused(Refused):
    """A top-up or a statement was not applied; nothing was written."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a statement line (``line`` 0: the file itself)."""

    line: int
    text: str
    params: dict[str, object] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str]) -> str:
        message = translate(self.text) % self.params if self.params else translate(self.text)
        if not self.line:
            return message
        return translate(N_("Line %(line)s: %(problem)s")) % {"line": self.line, "problem": message}


class StatementInvalid(TopUpRefused):
    """The statement has problems: every one is listed, nothing was applied."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(N_("The statement was not applied: %(count)s problems (listed below)."),
                         count=len(problems))
        self.problems = problems


@dataclass(frozen=True)
class StatementLine:
    line: int
    day: date
    amount: Decimal
    reference: str
    purpose: str
    payer: str
    merchant_id: int
    merchant_name: str
    currency: str
    already_applied: bool


@dataclass
class MerchantTotal:
    merchant_id: int
    merchant_name: str
    currency: str
    lines: int = 0
    amount: Decimal = Decimal(0)


@dataclass
class StatementSummary:
    """What a statement did (or, from ``check_statement``, would do)."""

    lines: list[StatementLine]
    applied: list[StatementLine] = field(default_factory=list)
    already_applied: list[StatementLine] = field(default_factory=list)

    @property
    def to_apply(self) -> list[StatementLine]:
        return [line for line in self.lines if not line.already_applied]

    def totals(self, lines: list[StatementLine] | None = None) -> list[MerchantTotal]:
        """Per merchant: the lines and their sum (of ``lines``; the applied ones by default)."""
        by: dict[int, MerchantTotal] = {}
        for line in self.applied if lines is None else lines:
            total = by.setdefault(line.merchant_id, MerchantTotal(
                line.merchant_id, line.merchant_name, line.currency))
            total.lines += 1
            total.amount += line.amount
        return sorted(by.values(), key=lambda t: t.merchant_name)


# --- one top-up ------------------------------------------------------------------------------
def _amount_problem(amount: Decimal, places: int, currency: str) -> Problem | None:
    """Why ``amount`` cannot be a top-up in ``currency`` (None: it can)."""
    if not amount.is_finite() or amount <= 0:
        return Problem(0, N_("A top-up must be more than zero (%(amount)s was given)."),
                       {"amount": str(amount)})
    if amount > MAX_AMOUNT:
        return Problem(0, N_("The amount %(amount)s is larger than a top-up can be."),
                       {"amount": str(amount)})
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        return Problem(0, N_("The amount %(amount)s has more than %(places)s decimal places, more "
                          "than %(currency)s has."),
                       {"amount": str(amount), "places": places, "currency": currency})
    return None


def _applied(session: Session, reference: str) -> LedgerEntry | None:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.kind == LedgerKind.DEPOSIT,
                                                    LedgerEntry.reference == reference))


def _refuse_applied(session: Session, entry: LedgerEntry) -> TopUpRefused:
    name = session.scalar(select(Merchant.name).where(Merchant.id == entry.merchant_id))
    return TopUpRefused("The bank reference %(reference)s was already applied on %(date)s "
                        "(%(amount)s %(currency)s to %(merchant)s): a payment is applied once.",
                        reference=entry.reference, date=entry.at.date().isoformat(),
                        amount=str(entry.amount), currency=entry.currency, merchant=name or "")


def _deposit(session: Session, merchant: Merchant, amount: Decimal, day: date, reference: str,
             description: str) -> LedgerEntry:
    """Post the deposit (in a savepoint: a reference applied meanwhile refuses cleanly) and
    re-arm the low-balance warning when the balance is above the threshold again."""
    try:
        with session.begin_nested():
            entry = ledger.post(session, merchant.id, LedgerKind.DEPOSIT, amount,
                                merchant.currency, description=description,
                                at=datetime.combine(day, time.min, tzinfo=UTC),
                                reference=reference)
    except IntegrityError:
        applied = _applied(session, reference)
        if applied is None:
            raise
        raise _refuse_applied(session, applied) from None
    # One conditional UPDATE (as the warning sets it): a charge warning at the same moment
    # sees either the cleared field or the new balance, never loses the re-arming.
    session.execute(
        update(Merchant).where(
            Merchant.id == merchant.id, Merchant.low_balance_notified_at.is_not(None),
            or_(Merchant.low_balance_threshold.is_(None),
                Merchant.balance > Merchant.low_balance_threshold))
        .values(low_balance_notified_at=None).execution_options(synchronize_session=False))
    return entry


def _reference(value: str | None) -> str:
    reference = (value or "").strip()
    if not reference:
        raise TopUpRefused("Enter the bank's reference of the payment: it keeps a payment from "
                           "being applied twice.")
    if len(reference) > MAX_REFERENCE:
        raise TopUpRefused("The bank reference is longer than %(max)s characters.",
                           max=MAX_REFERENCE)
    return reference


def record_top_up(session: Session, actor: Actor, merchant_id: int, amount: Decimal,
                  day: date, bank_reference: str | None) -> LedgerEntry:
    """Record one payment received from a merchant (see the module docstring)."""
    if actor.is_merchant:
        raise TopUpRefused("Top-ups are recorded by the accountant.")
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise TopUpRefused("Choose the merchant that paid.")
    problem = _amount_problem(Decimal(amount), currency_places(session, merchant.currency),
                              merchant.currency)
    if problem is not None:
        raise TopUpRefused(problem.text, **problem.params)
    reference = _reference(bank_reference)
    applied = _applied(session, reference)
    if applied is not None:
        raise _refuse_applied(session, applied)
    return _deposit(session, merchant, Decimal(amount), day, reference,
                    f"Top-up by {actor.username}")


# --- a bank statement ------------------------------------------------------------------------
def _parse_day(text: str) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def _rows(csv_bytes: bytes) -> tuple[list[dict[str, str]], list[Problem]]:
    if len(csv_bytes) > MAX_FILE_BYTES:
        return [], [Problem(0, N_("The file is larger than %(max)s MB."),
                            {"max": MAX_FILE_BYTES // (1024 * 1024)})]
    try:
        text = csv_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(0, N_("The file is not UTF-8 text: save the statement as CSV "
                                  "(UTF-8)."))]
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [Problem(0, N_("The file's first line must name the columns %(columns)s; "
                               "missing: %(missing)s."),
                            {"columns": ", ".join(COLUMNS), "missing": ", ".join(missing)})]
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        row = {name: (values[i].strip() if i < len(values) else "")
               for i, name in enumerate(header)}
        row["_line"] = str(reader.line_num)
        rows.append(row)
    if not rows:
        return [], [Problem(0, N_("The statement has no lines."))]
    return rows, []


def _matcher(session: Session) -> list[tuple[re.Pattern[str], Merchant]]:
    merchants = session.scalars(select(Merchant).where(Merchant.payment_reference.is_not(None))
                                .order_by(Merchant.name))
    return [(re.compile(rf"(?<!\w){re.escape(m.payment_reference.strip())}(?!\w)",
                        re.IGNORECASE), m)
            for m in merchants if m.payment_reference and m.payment_reference.strip()]


def check_statement(session: Session, csv_bytes: bytes) -> StatementSummary:
    """Parse and match every line; raise ``StatementInvalid`` listing every problem."""
    rows, problems = _rows(csv_bytes)
    if problems:
        raise StatementInvalid(problems)
    matchers = _matcher(session)
    places: dict[str, int] = {}
    seen: dict[str, int] = {}
    lines: list[StatementLine] = []
    for row in rows:
        number = int(row["_line"])
        here: list[Problem] = []
        try:
            day = _parse_day(row["date"])
        except ValueError:
            here.append(Problem(number, N_("the date %(value)s is not a date (YYYY-MM-DD or "
                                        "DD.MM.YYYY)."), {"value": row["date"]}))
            day = date.min
        try:
            amount = parse_amount(row["amount"])
            if amount is None:
                raise ValueError(row["amount"])
        except ValueError:
            here.append(Problem(number, N_("the amount %(value)s is not a number."),
                                {"value": row["amount"]}))
            amount = None
        reference = row["reference"]
        if not reference:
            here.append(Problem(number, N_("the line has no bank reference.")))
        elif len(reference) > MAX_REFERENCE:
            here.append(Problem(number, N_("the bank reference is longer than %(max)s characters."),
                                {"max": MAX_REFERENCE}))
        elif reference in seen:
            here.append(Problem(number, N_("the bank reference %(reference)s repeats line "
                                        "%(first)s."), {"reference": reference,
                                                       "first": seen[reference]}))
        else:
            seen[reference] = number
        matched = [m for pattern, m in matchers if pattern.search(row["purpose"])]
        if not matched:
            here.append(Problem(number, N_("the purpose %(purpose)s names no merchant's payment "
                                        "reference."), {"purpose": row["purpose"] or "—"}))
        elif len(matched) > 1:
            here.append(Problem(number, N_("the purpose %(purpose)s matches more than one merchant "
                                        "(%(merchants)s): apply it by hand as a top-up."),
                                {"purpose": row["purpose"],
                                 "merchants": ", ".join(m.name for m in matched)}))
        if amount is not None and len(matched) == 1:
            currency = matched[0].currency
            if currency not in places:
                places[currency] = currency_places(session, currency)
            problem = _amount_problem(amount, places[currency], currency)
            if problem is not None:
                here.append(Problem(number, problem.text, problem.params))
        elif amount is not None and (not amount.is_finite() or amount <= 0):
            here.append(Problem(number, N_("A top-up must be more than zero (%(amount)s was "
                                        "given)."), {"amount": str(amount)}))
        if here:
            problems.extend(here)
            continue
        assert amount is not None
        merchant = matched[0]
        lines.append(StatementLine(
            line=number, day=day, amount=amount, reference=reference, purpose=row["purpose"],
            payer=row["payer"], merchant_id=merchant.id, merchant_name=merchant.name,
            currency=merchant.currency, already_applied=_applied(session, reference) is not None))
    if problems:
        raise StatementInvalid(problems)
    return StatementSummary(lines)


def import_statement(session: Session, actor: Actor, csv_bytes: bytes) -> StatementSummary:
    """Check the whole statement, then apply each line not applied before (one transaction:
    the caller's)."""
    if actor.is_merchant:
        raise TopUpRefused("Top-ups are recorded by the accountant.")
    summary = check_statement(session, csv_bytes)
    merchants = {m.id: m for m in session.scalars(
        select(Merchant).where(Merchant.id.in_({line.merchant_id for line in summary.lines})))}
    for line in summary.lines:
        if line.already_applied:
            summary.already_applied.append(line)
            continue
        payer = f" from {line.payer}" if line.payer else ""
        _deposit(session, merchants[line.merchant_id], line.amount, line.day, line.reference,
                 f"Bank statement{payer}: {line.purpose}"[:1000])
        summary.applied.append(line)
    return summary
