"""The shipping and payment tables as one snapshot per database, revalidated on every use.

A checkout quote prices the cart with every shipping and payment method. Reading and converting
those tables was half of a quote's time, yet they change a few times a day while quotes arrive
many times a second. So the converted rules are kept per engine together with the *revision*
they were read at, and every use first asks the database for the current revision in one small
aggregate query over those tables — per table the number of rows, the sum of their versions and
the latest ``updated_at``; for the link tables the number of rows and two sums of their keys.
Any insert, update or delete, from this process or another (the admin, ``postdesk config
load``, a second server), changes it, and the snapshot is read again: a quote never sees older
rules than a direct read would. Rows edited through the ORM always bump ``version`` and
``updated_at`` (``schema.base.Editable``); a hand-written SQL ``UPDATE`` should do the same.

The same query returns the system currency and its decimal places, which every quote needs too.
Discounts are not kept here: their ``times_used`` changes with every order that uses one, and
the code a buyer enters is looked up by itself.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Engine, Select, Table, cast, func, select, true
from sqlalchemy.orm import Session

from rules import pricing as rp
from schema.payments import PaymentGateway, PaymentMethod
from schema.people import CurrencyRow, Setting
from schema.shipping import ShippingCostRow, ShippingMethod, shipping_method_categories
from services.rule_rows import load_payment_methods, load_shipping_methods

DEFAULT_CURRENCY = "BYN"

_EDITED = (ShippingMethod.__table__, ShippingCostRow.__table__, PaymentMethod.__table__,
           PaymentGateway.__table__, Setting.__table__, CurrencyRow.__table__)
_LINKS = (shipping_method_categories,)


def _edited_state(table: Table) -> Select[Any]:
    return select(func.count().label("n"),
                  func.coalesce(func.sum(table.c.version), 0).label("versions"),
                  func.max(table.c.updated_at).label("updated"))


def _link_state(table: Table) -> Select[Any]:
    # Two sums, so that swapping two links (a1-b1, a2-b2 -> a1-b2, a2-b1) changes one of them.
    left, right = (cast(c, BigInteger) for c in table.c)
    return select(func.count().label("n"),
                  func.coalesce(func.sum(left * 1_000_003 + right), 0).label("keys"),
                  func.coalesce(func.sum(left * right), 0).label("products"))


def _revision_statement() -> Select[Any]:
    states = [_edited_state(t).subquery() for t in _EDITED]
    states += [_link_state(t).subquery() for t in _LINKS]
    setting = select(Setting.value).where(Setting.key == "system_currency").scalar_subquery()
    code = func.upper(func.trim(func.coalesce(setting, DEFAULT_CURRENCY)))
    decimals = select(CurrencyRow.decimals).where(CurrencyRow.code == code).scalar_subquery()
    joined: Any = states[0]
    for state in states[1:]:
        joined = joined.join(state, true())  # one row each: a product of single rows
    return select(code.label("currency"), decimals.label("decimals"),
                  *(c for state in states for c in state.c)).select_from(joined)


# Built once: the statement's compiled form is then cached by SQLAlchemy, too.
REVISION = _revision_statement()


@dataclass(frozen=True)
class RuleSnapshot:
    """Every shipping and payment method (active or not) as engine rules, in id order."""

    revision: tuple[Any, ...]
    currency: str
    money_decimals: int
    shipping: tuple[rp.ShippingMethod, ...]
    payment: tuple[tuple[rp.PaymentMethod, rp.Gateway | None], ...]

    def shipping_methods(self, ids: Sequence[int] | None = None, *,
                         active_only: bool = False) -> list[rp.ShippingMethod]:
        wanted = None if ids is None else set(ids)
        return [m for m in self.shipping if (wanted is None or m.id in wanted)
                and (m.active or not active_only)]

    def payment_methods(self, ids: Sequence[int] | None = None, *, active_only: bool = False,
                        ) -> list[tuple[rp.PaymentMethod, rp.Gateway | None]]:
        wanted = None if ids is None else set(ids)
        return [(m, g) for m, g in self.payment if (wanted is None or m.id in wanted)
                and (m.active or not active_only)]


_snapshots: weakref.WeakKeyDictionary[Engine, RuleSnapshot] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def rule_snapshot(session: Session) -> RuleSnapshot:
    """The rules as the database holds them now (read again only when they changed)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    row = session.connection().execute(REVISION).one()  # no merchant owns these tables
    revision = tuple(row)
    found = _snapshots.get(engine)
    if found is not None and found.revision == revision:
        return found
    snapshot = RuleSnapshot(
        revision=revision, currency=row.currency,
        money_decimals=2 if row.decimals is None else int(row.decimals),
        shipping=tuple(load_shipping_methods(session)),
        payment=tuple(load_payment_methods(session)))
    with _lock:
        _snapshots[engine] = snapshot
    return snapshot
