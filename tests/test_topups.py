"""Top-ups of the prepaid balance (services/topups.py, admin/topups.py): one recorded through the
accountant's form, and bank statements checked whole and applied line by line, once each.

Every refusal writes nothing; the balance equals the ledger's sum after every step; SQLite and
PostgreSQL (``POSTDESK_TEST_DATABASE_URL``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from locales import translations
from schema.lockers import LedgerEntry, LedgerKind
from schema.people import Merchant
from services import ledger
from services.actor import Actor
from services.topups import (
    StatementInvalid,
    TopUpRefused,
    check_statement,
    import_statement,
    record_top_up,
)
from tests.conftest import form_fields, unique

D = Decimal
ACCOUNTANT = Actor(user_id=None, username="accountant", role="accountant")


def _merchant(make, **kw: object) -> Merchant:  # type: ignore[no-untyped-def]
    return make("Merchant", currency="BYN", payment_reference=unique("PAY"), **kw)


def _money(factory: sessionmaker[Session], merchant_id: int) -> tuple[Decimal, Decimal, int]:
    """(balance, ledger sum, entries): the balance must always be the sum."""
    with factory() as session:
        balance = session.scalar(select(Merchant.balance).where(Merchant.id == merchant_id))
        entries = session.scalar(select(func.count(LedgerEntry.id))
                                 .where(LedgerEntry.merchant_id == merchant_id))
        total = ledger.ledger_sum(session, merchant_id)
        assert balance == total
        return D(balance), total, int(entries or 0)


def _error(html: str) -> str:
    found = re.search(r'id="top-up-error">(.*?)</div>', html, re.S)
    assert found, html[-3000:]
    return found.group(1).strip()


def test_an_accountant_records_a_top_up_and_bad_ones_are_refused(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    merchant = _merchant(make)
    browser = signed_in("accountant")
    page = browser.get("/admin/top-up")
    assert page.status_code == 200
    assert f'value="{merchant.id}"' in page.text
    reference = unique("BANK")
    done = browser.post("/admin/top-up", {"merchant_id": merchant.id, "amount": "1500.50",
                                          "day": "2026-11-30", "reference": reference},
                        follow_redirects=False)
    assert done.status_code == 303, done.text[-2000:]
    shown = browser.get(done.headers["location"]).text
    assert "top-up-done" in shown and reference in shown
    assert _money(factory, merchant.id) == (D("1500.50"), D("1500.50"), 1)
    with factory() as session:
        entry = session.scalars(select(LedgerEntry)
                                .where(LedgerEntry.merchant_id == merchant.id)).one()
        assert (entry.kind, entry.reference, entry.amount) == (LedgerKind.DEPOSIT, reference,
                                                              D("1500.50"))
        assert entry.at == datetime(2026, 11, 30, tzinfo=UTC)
    refusals = {
        "0": "more than zero", "-5": "more than zero", "1.001": "more than 2 decimal places",
        "ten": "not a number",
    }
    for amount, why in refusals.items():
        response = browser.post("/admin/top-up", {
            "merchant_id": merchant.id, "amount": amount, "day": "2026-11-30",
            "reference": unique("BANK")})
        assert response.status_code == 400, amount
        assert why in _error(response.text), (amount, _error(response.text))
        assert f'value="{amount}"' in response.text  # the form keeps what was typed
    reused = browser.post("/admin/top-up", {"merchant_id": merchant.id, "amount": "10",
                                            "day": "2026-12-01", "reference": reference})
    assert reused.status_code == 400
    assert "already applied" in _error(reused.text) and reference in _error(reused.text)
    assert _money(factory, merchant.id) == (D("1500.50"), D("1500.50"), 1)  # nothing written


def test_a_refusal_is_in_the_readers_language(  # type: ignore[no-untyped-def]
        signed_in, make) -> None:
    merchant = _merchant(make)
    browser = signed_in("accountant", language="ru")
    response = browser.post("/admin/top-up", {"merchant_id": merchant.id, "amount": "0",
                                              "day": "2026-11-30", "reference": unique("B")})
    assert response.status_code == 400
    assert 'lang="ru"' in response.text
    # The service's message through the Russian catalog (the merged translation, once the
    # catalogs carry it), its amount filled in after translation.
    russian = translations("ru").gettext("A top-up must be more than zero (%(amount)s was "
                                         "given).") % {"amount": "0"}
    assert _error(response.text) == russian


def test_a_merchant_cannot_record_a_top_up(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    merchant = _merchant(make)
    browser = signed_in("merchant", merchant_id=merchant.id)
    assert browser.get("/admin/top-up").status_code == 403
    assert browser.post("/admin/top-up", {"merchant_id": merchant.id, "amount": "100",
                                          "reference": unique("B")}).status_code == 403
    assert browser.get("/admin/bank-statement").status_code == 403


def test_a_top_up_above_the_threshold_rearms_the_low_balance_warning(  # type: ignore[no-untyped-def]
        make, factory: sessionmaker[Session]) -> None:
    merchant = _merchant(make, low_balance_threshold=D("100"))
    with factory() as session, session.begin():
        session.get(Merchant, merchant.id).low_balance_notified_at = datetime.now(UTC)
    with factory() as session, session.begin():
        record_top_up(session, ACCOUNTANT, merchant.id, D("60"), date(2026, 12, 1),
                      unique("B"))
    with factory() as session:  # 60: still at or below 100, the warning stands
        assert session.get(Merchant, merchant.id).low_balance_notified_at is not None
    with factory() as session, session.begin():
        record_top_up(session, ACCOUNTANT, merchant.id, D("40.01"), date(2026, 12, 1),
                      unique("B"))
    with factory() as session:
        assert session.get(Merchant, merchant.id).low_balance_notified_at is None
    assert _money(factory, merchant.id)[0] == D("100.01")


def test_a_top_up_refused_by_the_service_writes_nothing(  # type: ignore[no-untyped-def]
        make, factory: sessionmaker[Session]) -> None:
    merchant = make("Merchant", currency="IRR")
    for amount in (D(0), D(-1), D("10.5")):  # IRR has no decimals
        with factory() as session, session.begin(), pytest.raises(TopUpRefused):
            record_top_up(session, ACCOUNTANT, merchant.id, amount, date(2026, 12, 1),
                          unique("B"))
    with factory() as session, session.begin(), pytest.raises(TopUpRefused):
        record_top_up(session, ACCOUNTANT, merchant.id, D(5), date(2026, 12, 1), "  ")
    merchant_actor = Actor(user_id=None, username="m", role="merchant", merchant_id=merchant.id)
    with factory() as session, session.begin(), pytest.raises(TopUpRefused):
        record_top_up(session, merchant_actor, merchant.id, D(5), date(2026, 12, 1),
                      unique("B"))
    assert _money(factory, merchant.id) == (D(0), D(0), 0)


def _csv(*lines: str, header: str = "date,amount,reference,purpose,payer") -> bytes:
    return ("\ufeff" + "\n".join((header, *lines)) + "\n").encode()


def test_a_statement_is_checked_whole_and_every_problem_listed(  # type: ignore[no-untyped-def]
        make, factory: sessionmaker[Session]) -> None:
    first, second = _merchant(make), _merchant(make)
    good = unique("S")
    data = _csv(
        f"2026-11-30,100.00,{good},Invoice {first.payment_reference},ООО Ромашка",  # line 2: fine
        f"2026-11-30,abc,{unique('S')},{first.payment_reference},X",               # 3: amount
        f"2026-11-30,0,{unique('S')},{first.payment_reference},X",                 # 4: zero
        f"2026-11-30,-20,{unique('S')},{first.payment_reference},X",               # 5: negative
        f"2026-11-30,20,{unique('S')},for goods,X",                                # 6: no merchant
        f"2026-11-30,20,{unique('S')},{first.payment_reference} {second.payment_reference},X",
        f"31/02/2026,20,{unique('S')},{second.payment_reference},X",               # 8: date
        f"2026-11-30,20.001,{unique('S')},{second.payment_reference},X",           # 9: decimals
        f"2026-11-30,20,{good},{second.payment_reference},X",                      # 10: repeated
    )
    with factory() as session, session.begin(), pytest.raises(StatementInvalid) as caught:
        import_statement(session, ACCOUNTANT, data)
    problems = caught.value.problems
    assert sorted({p.line for p in problems}) == [3, 4, 5, 6, 7, 8, 9, 10]
    texts = {p.line: p.render(str) for p in problems}
    assert "not a number" in texts[3] and "more than zero" in texts[4]
    assert "more than zero" in texts[5] and "names no merchant" in texts[6]
    assert "more than one merchant" in texts[7] and first.name in texts[7]
    assert "not a date" in texts[8] and "decimal places" in texts[9]
    assert "repeats line 2" in texts[10]
    for merchant in (first, second):  # nothing applied, not even the good line
        assert _money(factory, merchant.id) == (D(0), D(0), 0)
    with factory() as session, pytest.raises(StatementInvalid) as caught:
        check_statement(session, _csv("2026-11-30,1,R,P,X", header="when,sum,ref,purpose"))
    assert "missing: date, amount, reference, payer" in caught.value.problems[0].render(str)


def test_each_statement_line_is_applied_once(  # type: ignore[no-untyped-def]
        make, factory: sessionmaker[Session]) -> None:
    first, second = _merchant(make), _merchant(make)
    refs = [unique("S") for _ in range(3)]
    # Semicolons and a decimal comma, as some banks write them; the reference any case.
    data = _csv(
        f"30.11.2026;1 000,50;{refs[0]};Prepayment {first.payment_reference.lower()};Shop A",
        f"2026-11-30;250;{refs[1]};{first.payment_reference}/topup;Shop A",
        f"2026-12-01;75.25;{refs[2]};Oplata {second.payment_reference};Shop B",
        header="date;amount;reference;purpose;payer")
    with factory() as session, session.begin():
        summary = import_statement(session, ACCOUNTANT, data)
    assert (len(summary.applied), len(summary.already_applied)) == (3, 0)
    totals = {t.merchant_id: (t.lines, t.amount) for t in summary.totals()}
    assert totals == {first.id: (2, D("1250.50")), second.id: (1, D("75.25"))}
    assert _money(factory, first.id) == (D("1250.50"), D("1250.50"), 2)
    assert _money(factory, second.id) == (D("75.25"), D("75.25"), 1)
    with factory() as session, session.begin():
        again = import_statement(session, ACCOUNTANT, data)
    assert (len(again.applied), len(again.already_applied)) == (0, 3)
    assert _money(factory, first.id) == (D("1250.50"), D("1250.50"), 2)
    assert _money(factory, second.id) == (D("75.25"), D("75.25"), 1)
    # A line already applied by hand counts as applied, not as a problem.
    late = unique("S")
    with factory() as session, session.begin():
        record_top_up(session, ACCOUNTANT, second.id, D(5), date(2026, 12, 2), late)
    with factory() as session, session.begin():
        mixed = import_statement(session, ACCOUNTANT, _csv(
            f"2026-12-02,5,{late},{second.payment_reference},B",
            f"2026-12-02,6,{unique('S')},{second.payment_reference},B"))
    assert (len(mixed.applied), len(mixed.already_applied)) == (1, 1)
    assert _money(factory, second.id) == (D("86.25"), D("86.25"), 3)


def test_the_statement_page_previews_then_applies(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    merchant = _merchant(make)
    ref = unique("S")
    data = _csv(f"2026-11-30,42.10,{ref},{merchant.payment_reference},Payer")
    browser = signed_in("accountant")
    assert browser.get("/admin/bank-statement").status_code == 200
    preview = browser.client.post("/admin/bank-statement/preview",
                                  data={"csrf_token": browser.token},
                                  files={"file": ("statement.csv", data, "text/csv")})
    assert preview.status_code == 200, preview.text[-2000:]
    assert "statement-preview" in preview.text and ref in preview.text
    assert _money(factory, merchant.id) == (D(0), D(0), 0)  # a preview applies nothing
    payload = form_fields(preview.text.split('id="statement-apply"', 1)[1])["payload"]
    applied = browser.post("/admin/bank-statement/apply", {"payload": payload})
    assert applied.status_code == 200 and "statement-applied" in applied.text
    assert _money(factory, merchant.id) == (D("42.10"), D("42.10"), 1)
    again = browser.post("/admin/bank-statement/apply", {"payload": payload})
    assert "statement-applied" in again.text
    assert _money(factory, merchant.id) == (D("42.10"), D("42.10"), 1)
    bad = browser.client.post("/admin/bank-statement/preview",
                              data={"csrf_token": browser.token},
                              files={"file": ("s.csv", _csv("2026-11-30,0,X1,nobody,P"),
                                              "text/csv")})
    assert bad.status_code == 400
    problems = bad.text.split('id="statement-problems"', 1)[1].split("</ul>")[0]
    assert problems.count("<li>") == 2 and "statement-apply" not in bad.text


def test_the_balance_cannot_be_set_through_the_merchant_form(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    merchant = _merchant(make)
    with factory() as session, session.begin():
        record_top_up(session, ACCOUNTANT, merchant.id, D(100), date(2026, 12, 1), unique("B"))
    browser = signed_in("administrator")
    page = browser.get(f"/admin/merchants/edit/{merchant.id}").text
    fields = form_fields(page)
    assert "balance" not in fields
    fields.update(balance="1000000", name="Renamed store")
    response = browser.post(f"/admin/merchants/edit/{merchant.id}", fields,
                            follow_redirects=False)
    assert response.status_code in (302, 303), response.text[-2000:]
    with factory() as session:
        saved = session.get(Merchant, merchant.id)
        assert saved.name == "Renamed store"  # the form was saved...
        assert saved.balance == D(100)  # ...and the balance was not
    assert _money(factory, merchant.id) == (D(100), D(100), 1)
