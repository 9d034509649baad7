"""A small shop with known figures for the report tests: two merchants (BYN and RUB), three
warehouses, orders spread over one March, couriers with their status history, gateway
transactions, discounts, a locker and a ledger.

Everything happens in a year of its own (``year``), far from the rows other tests create
"now", so each report's figures are exact even though the test database is shared. The
expected figures are written out in tests/test_report_queries.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.catalog import Product, Warehouse
from schema.couriers import Courier
from schema.customers import Customer
from schema.discounts import Discount, DiscountUsage
from schema.invoices import GatewayTransaction, Payment, PaymentMethodCode
from schema.lockers import (
    CashCollection,
    CellState,
    LedgerKind,
    Locker,
    Payout,
    PayoutStatus,
)
from schema.orders import Order
from schema.payments import PaymentGateway, PaymentMethod, PaymentMethodKind
from schema.people import Merchant
from schema.shipping import ShippingMethod
from schema.workflows import StatusChange, Workflow
from seed.demo import factories as f
from services import ledger

_serial = itertools.count(1)


@dataclass
class Shop:
    year: int
    serial: int
    merchant_a: Merchant
    merchant_b: Merchant
    wa1: Warehouse
    wa2: Warehouse
    wb: Warehouse
    pa1: Product
    pa2: Product
    pb1: Product
    ca1: Customer
    ca2: Customer
    cb1: Customer
    ship_1: ShippingMethod
    ship_2: ShippingMethod
    cash: PaymentMethod
    online: PaymentMethod
    gateway: PaymentGateway
    discount_1: Discount
    discount_2: Discount
    courier_1: Courier
    courier_2: Courier
    locker: Locker
    orders: dict[str, Order] = field(default_factory=dict)

    def at(self, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
        return datetime(self.year, month, day, hour, minute, tzinfo=UTC)

    @property
    def march(self) -> tuple[date, date]:
        return date(self.year, 3, 1), date(self.year, 3, 31)


def build_shop(factory: sessionmaker[Session], year: int) -> Shop:
    n = next(_serial)
    with factory() as session, f.using_session(session):
        shop = _build(session, year, n)
        session.commit()
        return shop


def _order(shop: Shop, key: str, merchant: Merchant, customer: Customer | None, at: datetime,
           status: str, lines: list[tuple[Product, Warehouse, int]], **fields: Any) -> Order:
    order = f.OrderFactory(merchant=merchant, customer=customer, ordered_at=at, status=status,
                           number=f"R{shop.year}-{shop.serial}-{key}", **fields)
    for product, warehouse, quantity in lines:
        f.OrderLineFactory(order=order, product=product, warehouse=warehouse, quantity=quantity)
    shop.orders[key] = order
    return order


def _build(session: Session, year: int, n: int) -> Shop:
    a = f.MerchantFactory(name=f"Report store A{year}/{n}", currency="BYN", locale="en_US")
    b = f.MerchantFactory(name=f"Report store B{year}/{n}", currency="RUB", locale="ru_RU")
    c1, c2 = f.CategoryFactory(name=f"Phones {n}"), f.CategoryFactory(name=f"Cheese {n}")
    wa1 = f.WarehouseFactory(merchant=a, name=f"A north {n}")
    wa2 = f.WarehouseFactory(merchant=a, name=f"A south {n}")
    wb = f.WarehouseFactory(merchant=b, name=f"B main {n}")
    pa1 = f.ProductFactory(merchant=a, category=c1, sku=f"RA1-{n}", name=f"Phone {n}",
                           price=Decimal("10.00"))
    pa2 = f.ProductFactory(merchant=a, category=c2, sku=f"RA2-{n}", name=f"Cheese {n}",
                           price=Decimal("2.50"))
    pb1 = f.ProductFactory(merchant=b, category=c1, sku=f"RB1-{n}", name=f"Телефон {n}",
                           price=Decimal("100.00"))
    ca1 = f.CustomerFactory(merchant=a, name=f"Alice {n}")
    ca2 = f.CustomerFactory(merchant=a, name=f"Arash {n}")
    cb1 = f.CustomerFactory(merchant=b, name=f"Борис {n}")
    ship_1 = f.ShippingMethodFactory(name=f"Courier {n}")
    ship_2 = f.ShippingMethodFactory(name=f"Post {n}")
    cash = f.PaymentMethodFactory(name=f"Cash on delivery {n}",
                                  kind=PaymentMethodKind.CASH_ON_DELIVERY)
    online = f.PaymentMethodFactory(name=f"Online {n}", kind=PaymentMethodKind.ONLINE)
    gateway = f.PaymentGatewayFactory(name=f"Report gateway {n}")
    d1 = f.DiscountFactory(name=f"Spring {n}", code=f"SPRING{year}X{n}")
    d2 = f.DiscountFactory(name=f"Весна {n}", code=f"VESNA{year}X{n}")
    k1 = f.CourierFactory(full_name=f"Kurt {n}")
    k2 = f.CourierFactory(full_name=f"Kamran {n}")
    locker = f.LockerFactory(code=f"RL{year}-{n}")
    for state in (CellState.FREE, CellState.FREE, CellState.RESERVED, CellState.OCCUPIED,
                  CellState.OUT_OF_ORDER):
        f.LockerCellFactory(locker=locker, state=state)
    shop = Shop(year, n, a, b, wa1, wa2, wb, pa1, pa2, pb1, ca1, ca2, cb1, ship_1, ship_2, cash,
                online, gateway, d1, d2, k1, k2, locker)
    at = shop.at

    # Merchant A (BYN). Payable = lines - discount_total + shipping_cost.
    _order(shop, "a1", a, ca1, at(3, 2, 10), "delivered", [(pa1, wa1, 2)],
           shipping_cost=Decimal("5.00"), discount_total=Decimal("2.00"),
           shipping_method=ship_1, payment_method=cash, courier=k1,
           courier_status="delivered")                                          # 23.00
    _order(shop, "a2", a, ca1, at(3, 2, 23, 30), "confirmed", [(pa2, wa2, 4)],
           shipping_method=ship_1, payment_method=online, courier=k1,
           courier_status="failed", paid_amount=Decimal("10.00"))                # 10.00
    _order(shop, "a3", a, ca2, at(3, 5), "returned", [(pa1, wa1, 1), (pa2, wa2, 2)],
           shipping_method=ship_2, payment_method=online)                        # 15.00
    _order(shop, "a4", a, ca2, at(3, 31, 23, 59), "delivered", [(pa1, wa1, 3)],
           discount_total=Decimal("1.00"), shipping_method=ship_2, payment_method=online,
           courier=k2, courier_status="assigned")                                # 29.00
    parent = _order(shop, "a5", a, ca2, at(3, 6), "confirmed", [],
                    subtotal=Decimal("50.00"), payable=Decimal("50.00"),
                    shipping_method=ship_2, payment_method=online)               # split parent
    _order(shop, "a5-1", a, ca2, at(3, 6), "confirmed", [(pa2, wa2, 2)], parent=parent,
           shipping_method=ship_2, payment_method=online)                        # 5.00
    _order(shop, "a-april", a, ca1, at(4, 1, 0, 0), "delivered", [(pa1, wa1, 5)],
           shipping_method=ship_1, payment_method=cash)                          # outside
    _order(shop, "a-deleted", a, ca1, at(3, 10), "confirmed", [(pa1, wa1, 7)],
           shipping_method=ship_1, payment_method=cash, deleted_at=at(3, 11))   # in the bin
    # Merchant B (RUB).
    _order(shop, "b1", b, cb1, at(3, 3, 8), "delivered", [(pb1, wb, 3)],
           shipping_method=ship_1, payment_method=cash, courier=k1,
           courier_status="delivered")                                          # 300.00
    _order(shop, "b2", b, cb1, at(3, 4), "awaiting_confirmation", [(pb1, wb, 1)],
           shipping_method=ship_1, payment_method=online,
           paid_amount=Decimal("100.00"))                                        # 100.00
    session.flush()
    o = shop.orders

    # Discounts used.
    session.add_all([
        DiscountUsage(discount=d1, order=o["a1"], customer=ca1, amount=Decimal("2.00"),
                      currency="BYN", used_at=at(3, 2, 10)),
        DiscountUsage(discount=d1, order=o["a4"], customer=ca2, amount=Decimal("1.00"),
                      currency="BYN", used_at=at(3, 31, 23, 59)),
        DiscountUsage(discount=d2, order=o["b1"], customer=cb1, amount=Decimal("30.00"),
                      currency="RUB", used_at=at(3, 3, 8)),
        DiscountUsage(discount=d1, order=o["a-april"], customer=ca1, amount=Decimal("5.00"),
                      currency="BYN", used_at=at(4, 1, 0, 0)),
    ])

    # Cash taken by couriers (a card payment is not cash).
    session.add_all([
        Payment(order=o["a1"], amount=Decimal("23.00"), currency="BYN",
                method=PaymentMethodCode.CASH, received_at=at(3, 2, 13)),
        Payment(order=o["b1"], amount=Decimal("300.00"), currency="RUB",
                method=PaymentMethodCode.CASH, received_at=at(3, 3, 10)),
        Payment(order=o["a2"], amount=Decimal("10.00"), currency="BYN",
                method=PaymentMethodCode.CARD, received_at=at(3, 2, 23, 40)),
    ])
    # Courier-task history: a1 took 3 h from assignment to delivery, b1 took 1 h 30 min.
    task = session.scalar(select(Workflow.id).where(Workflow.code == "courier_task"))
    for key, assigned, delivered in (("a1", at(3, 2, 10), at(3, 2, 13)),
                                     ("b1", at(3, 3, 8), at(3, 3, 9, 30))):
        session.add_all([
            StatusChange(workflow_id=task, table_name="orders", record_id=o[key].id,
                         from_state=None, to_state="assigned", at=assigned),
            StatusChange(workflow_id=task, table_name="orders", record_id=o[key].id,
                         from_state="on_the_way", to_state="delivered", at=delivered),
        ])

    # Gateway: a2 matches, a3 was paid but is not recorded as paid, a4 never completed,
    # b2 received less than recorded; one transaction falls in April.
    for order, amount, status, when in (
        (o["a2"], "10.00", "paid", at(3, 2, 23, 31)),
        (o["a3"], "15.00", "paid", at(3, 5, 12, 1)),
        (o["a4"], "29.00", "started", at(3, 31, 23, 59)),
        (o["b2"], "90.00", "paid", at(3, 4, 12, 1)),
        (o["a-april"], "50.00", "paid", at(4, 2)),
    ):
        session.add(GatewayTransaction(order=order, gateway=gateway, amount=Decimal(amount),
                                       currency=order.currency, status=status, entered_at=when))

    # Merchant A's ledger and payouts.
    for kind, amount, when in (
        (LedgerKind.DEPOSIT, "100.00", at(2, 15)),
        (LedgerKind.CHARGE, "-7.50", at(3, 5)),
        (LedgerKind.CASH_COLLECTED, "23.00", at(3, 10)),
        (LedgerKind.FEE, "-0.35", at(3, 10)),
        (LedgerKind.PAYOUT, "-15.00", at(3, 20)),
        (LedgerKind.DEPOSIT, "50.00", at(4, 2)),
    ):
        ledger.post(session, a.id, kind, Decimal(amount), "BYN", at=when)
    ledger.post(session, b.id, LedgerKind.DEPOSIT, Decimal("1000.00"), "RUB", at=at(3, 1, 9))
    session.add_all([
        Payout(merchant=a, period_start=date(year, 3, 1), period_end=date(year, 3, 7),
               amount=Decimal("15.00"), fee=Decimal("0.35"), currency="BYN",
               status=PayoutStatus.PAID, paid_at=at(3, 20)),
        Payout(merchant=a, period_start=date(year, 4, 5), period_end=date(year, 4, 11),
               amount=Decimal("9.00"), currency="BYN"),
    ])

    # Locker: expired parcels of both merchants, and the cash taken out of it.
    for merchant in (a, b):
        f.ParcelFactory(merchant=merchant, locker=locker, status="storage_expired")
    f.ParcelFactory(merchant=a, locker=locker, status="in_locker")
    collector = f.UserFactory(username=f"collector{year}x{n}")
    session.add(CashCollection(locker=locker, collector=collector, amount=Decimal("40.00"),
                               currency="BYN", collected_at=at(3, 15)))
    session.flush()
    return shop
