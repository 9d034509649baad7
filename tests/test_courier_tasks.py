"""A courier's My tasks over real HTTP (which tasks, in which order, the cash to take, the links
to call and navigate) and the parcel sticker's cash-on-delivery line read back from its PDF."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from admin.couriers import map_url, phone_uri
from locales import LANGUAGES, format_money
from reports.documents import PrintRequest
from schema.lockers import Parcel
from schema.orders import Order
from schema.payments import PaymentMethodKind
from schema.people import User
from schema.workflows import StatusChange, Workflow
from tests.test_documents import has_text, pdf_text, render_doc, tr

PHONE = "+375 (29) 606-58-74"


def _user_id(factory: sessionmaker[Session], username: str) -> int:
    with factory() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def _set(factory: sessionmaker[Session], model: Any, pk: int, **values: Any) -> None:
    with factory() as session, session.begin():
        session.execute(update(model).where(model.id == pk).values(**values))


def _closed(factory: sessionmaker[Session], order_id: int, to_state: str, at: datetime) -> None:
    """The order reached ``to_state`` (a terminal one) at ``at``, as its history says."""
    with factory() as session, session.begin():
        workflow = session.scalars(select(Workflow.id).where(Workflow.code == "courier_task"))
        session.execute(update(Order).where(Order.id == order_id).values(courier_status=to_state))
        session.add(StatusChange(workflow_id=workflow.one(), table_name="orders",
                                 record_id=order_id, from_state="on_the_way", to_state=to_state,
                                 at=at))


def _tasks(page: str) -> list[str]:
    return re.findall(r'data-task="([a-z]+-\d+)"', page)


def _card(page: str, task: str) -> str:
    start = page.index(f'data-task="{task}"')
    end = page.find('class="card task-card', start)
    return page[start:end if end != -1 else len(page)]


@pytest.fixture
def courier(make, make_user, factory, browser):  # type: ignore[no-untyped-def]
    """A courier signed in through the login form, with its courier record."""
    username = make_user("courier")
    record = make("Courier", user_id=_user_id(factory, username))
    assert browser.login(username).status_code == 302
    return record


def test_open_tasks_first_and_closed_ones_only_on_request(  # type: ignore[no-untyped-def]
    courier, make, factory, browser
) -> None:
    now = datetime.now(UTC)
    waiting = make("Order", lines=1, courier_id=courier.id, courier_status="assigned",
                   ordered_at=now - timedelta(days=2))
    on_road = make("Order", lines=1, courier_id=courier.id, courier_status="on_the_way",
                   ordered_at=now - timedelta(days=1))
    # In the locker: still open (the buyer has not taken it) but nothing the courier can do.
    in_locker = make("Parcel", courier_id=courier.id, status="in_locker")
    today = make("Order", lines=1, courier_id=courier.id, courier_status="on_the_way",
                 ordered_at=now - timedelta(days=3))
    _closed(factory, today.id, "delivered", now)
    yesterday = make("Order", lines=1, courier_id=courier.id, courier_status="on_the_way",
                     ordered_at=now - timedelta(days=4))
    _closed(factory, yesterday.id, "returned", now - timedelta(days=1))
    someone_elses = make("Order", lines=1, courier=make("Courier"), courier_status="assigned")

    open_tasks = [f"orders-{waiting.id}", f"orders-{on_road.id}", f"parcels-{in_locker.id}"]
    page = browser.get("/admin/my-tasks").text
    assert _tasks(page) == open_tasks
    assert someone_elses.number not in page
    assert 'data-open="3"' in page

    shown = browser.get("/admin/my-tasks",
                        params={"closed": "1", "day": date.today().isoformat()}).text
    assert _tasks(shown) == [*open_tasks, f"orders-{today.id}"]
    assert 'data-closed="1"' in _card(shown, f"orders-{today.id}")
    assert 'name="to_state"' not in _card(shown, f"orders-{today.id}")

    earlier = (date.today() - timedelta(days=1)).isoformat()
    shown = browser.get("/admin/my-tasks", params={"closed": "1", "day": earlier}).text
    assert _tasks(shown) == [*open_tasks, f"orders-{yesterday.id}"]


def test_moving_a_task_returns_to_the_same_view(courier, make, browser, factory) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1, courier_id=courier.id, courier_status="on_the_way")
    cod = make("PaymentMethod", kind=PaymentMethodKind.CASH_ON_DELIVERY)
    _set(factory, Order, order.id, payment_method_id=cod.id, balance_due=Decimal("42.50"))
    money = html.escape(format_money(Decimal("42.50"), order.currency, "en"))
    assert f"To collect: <bdi dir=\"ltr\">{money}" in _card(browser.get("/admin/my-tasks").text,
                                                        f"orders-{order.id}")
    day = date.today().isoformat()
    moved = browser.post(f"/admin/my-tasks/orders/{order.id}", {
        "to_state": "delivered", "expected_state": "on_the_way", "closed": "1", "day": day},
        follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"].endswith(
        f"/admin/my-tasks?closed=1&day={day}#task-orders-{order.id}")
    with factory() as session:
        assert session.get(Order, order.id).courier_status == "delivered"
    # Delivered today: gone from the open list, there among today's closed ones.
    assert f"orders-{order.id}" not in _tasks(browser.get("/admin/my-tasks").text)
    closed = _card(browser.get(moved.headers["location"]).text, f"orders-{order.id}")
    # Delivered: the money is no longer to be asked for; the card only recalls the amount.
    assert f"Cash on delivery: <bdi dir=\"ltr\">{money}" in closed and "To collect" not in closed


def test_cash_to_collect_only_where_the_courier_takes_money(  # type: ignore[no-untyped-def]
    courier, make, factory, browser
) -> None:
    merchant = make("Merchant", locale="en_US")
    currency = merchant.currency
    methods = {kind: make("PaymentMethod", kind=kind) for kind in PaymentMethodKind}

    def order(kind: PaymentMethodKind, balance: str, paid: str = "0") -> Order:
        made = make("Order", merchant=merchant, lines=1, courier_id=courier.id,
                    courier_status="on_the_way", recipient_phone=PHONE)
        _set(factory, Order, made.id, payment_method_id=methods[kind].id,
             payable=Decimal(balance) + Decimal(paid), paid_amount=Decimal(paid),
             balance_due=Decimal(balance))
        return made

    def parcel(price: str | None, paid: bool) -> Parcel:
        made = make("Parcel", merchant=merchant, courier_id=courier.id, status="with_courier",
                    currency=currency)
        _set(factory, Parcel, made.id, paid=paid,
             declared_price=Decimal(price) if price is not None else None)
        return made

    expected = {
        f"orders-{order(PaymentMethodKind.CASH_ON_DELIVERY, '123.45').id}": Decimal("123.45"),
        # A bank slip not yet paid is still none of the courier's business.
        f"orders-{order(PaymentMethodKind.BANK_SLIP, '80.00').id}": Decimal(0),
        f"orders-{order(PaymentMethodKind.ONLINE, '0', paid='99.00').id}": Decimal(0),
        f"orders-{order(PaymentMethodKind.DEFERRED, '40.00').id}": Decimal(0),
        f"orders-{order(PaymentMethodKind.CASH_ON_DELIVERY, '0', paid='10').id}": Decimal(0),
        f"parcels-{parcel('50.00', paid=False).id}": Decimal("50.00"),
        f"parcels-{parcel('70.00', paid=True).id}": Decimal(0),
        f"parcels-{parcel(None, paid=False).id}": Decimal(0),
    }
    page = browser.get("/admin/my-tasks").text
    for task, amount in expected.items():
        card = _card(page, task)
        collect = re.search(r'data-collect="([^"]*)"', card)
        assert collect and Decimal(collect[1]) == amount, (task, collect)
        if amount:
            assert html.escape(format_money(amount, currency, "en")) in card
        else:
            assert "Nothing to collect" in card and "To collect" not in card
    total = format_money(Decimal("173.45"), currency, "en")
    assert re.search(rf'data-collect-total="{currency}">To collect: <strong><bdi dir="ltr">'
                     rf"{re.escape(html.escape(total))}</bdi>", page)

    # Tap to call (the number isolated left to right) and tap to navigate.
    card = _card(page, next(iter(expected)))
    assert f'href="tel:+375296065874"><i class="fa-solid fa-phone"></i><bdi dir="ltr">{PHONE}' \
        in html.unescape(card)
    assert 'href="https://www.google.com/maps/search/?api=1&amp;query=' in card


def test_phone_and_map_links() -> None:
    assert phone_uri("+375 (29) 606-58-74") == "tel:+375296065874"
    assert phone_uri("۰۹۱۲ ۳۴۵ ۶۷۸۹") == "tel:09123456789"
    assert phone_uri("") is None and phone_uri("—") is None
    assert map_url("Минск, пр. Независимости, 4") == (
        "https://www.google.com/maps/search/?api=1&query="
        "%D0%9C%D0%B8%D0%BD%D1%81%D0%BA%2C%20%D0%BF%D1%80.%20%D0%9D%D0%B5%D0%B7%D0%B0%D0%B2"
        "%D0%B8%D1%81%D0%B8%D0%BC%D0%BE%D1%81%D1%82%D0%B8%2C%204")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sticker_says_cash_on_delivery_only_when_there_is_cash(  # type: ignore[no-untyped-def]
    make, factory, lang: str
) -> None:
    merchant = make("Merchant", locale={"en": "en_US", "ru": "ru_RU", "fa": "fa_IR"}[lang])
    currency = merchant.currency
    amount = Decimal("70000") if currency == "IRR" else Decimal("123.45")
    stickers = {}
    for kind, balance, paid in ((PaymentMethodKind.CASH_ON_DELIVERY, amount, Decimal(0)),
                                (PaymentMethodKind.BANK_SLIP, amount, Decimal(0)),
                                (PaymentMethodKind.ONLINE, Decimal(0), amount)):
        method = make("PaymentMethod", kind=kind)
        order = make("Order", merchant=merchant, lines=1)
        _set(factory, Order, order.id, payment_method_id=method.id, payable=balance + paid,
             paid_amount=paid, balance_due=balance)
        stickers[kind] = pdf_text(render_doc(factory, "sticker", PrintRequest(ids=(order.id,)),
                                             lang))
    label, money = tr(lang, "Cash on delivery"), format_money(amount, currency, lang)
    cod = stickers[PaymentMethodKind.CASH_ON_DELIVERY]
    assert has_text(cod, f"{label}: {money}", lang) and has_text(cod, money, lang), cod
    for kind in (PaymentMethodKind.BANK_SLIP, PaymentMethodKind.ONLINE):
        # Neither the words nor the amount: the buyer has paid or pays the bank, not the courier.
        assert not has_text(stickers[kind], label, lang), (kind, stickers[kind])
        assert not has_text(stickers[kind], money, lang), (kind, stickers[kind])
