"""Customer points and groups (R-RULE-2): points accrue from delivered orders, and a customer
belongs to the group whose point range holds its points.

Both functions work in the caller's transaction (the status change that delivers the order).

- ``award_points`` records one ``PointEntry`` per order: the sum of each line's product points
  × quantity. It is idempotent: an order that already has its entry earns nothing more, so a
  re-run (or an order delivered twice by a workflow edit) never doubles the points. The
  customer's ``points`` is raised with an atomic increment.
- ``regroup`` moves the customer into the group whose ``min_points ≤ points ≤ max_points``
  (an empty bound is open). Only groups with at least one bound take part; a customer put in a
  group without bounds by hand (say, "VIP") stays there. When several ranges hold the points,
  the one with the highest minimum wins (then the lowest id); when none does, the customer
  leaves its thresholds group.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from schema.catalog import Product
from schema.customers import Customer, CustomerGroup, PointEntry
from schema.orders import Order, OrderLine

DELIVERED_REASON = "order delivered"


def order_points(session: Session, order: Order) -> int:
    """What ``order`` earns: the sum of its lines' product points × quantity."""
    total = session.scalar(
        select(func.coalesce(func.sum(Product.points * OrderLine.quantity), 0))
        .select_from(OrderLine)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id == order.id)
    )
    return int(total or 0)


def award_points(session: Session, order: Order) -> PointEntry | None:
    """Credit the customer with the order's points once; regroup it. Returns the new entry,
    or None when there is nothing to award (no customer, no points, already awarded)."""
    if order.customer_id is None:
        return None
    already = session.scalar(
        select(PointEntry.id).where(PointEntry.order_id == order.id,
                                    PointEntry.reason == DELIVERED_REASON).limit(1)
    )
    if already is not None:
        return None
    points = order_points(session, order)
    if points <= 0:
        return None
    entry = PointEntry(customer_id=order.customer_id, order_id=order.id, points=points,
                       reason=DELIVERED_REASON)
    session.add(entry)
    session.execute(
        update(Customer).where(Customer.id == order.customer_id)
        .values(points=Customer.points + points, version=Customer.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    customer = session.get(Customer, order.customer_id)
    if customer is not None:
        session.refresh(customer)
        regroup(session, customer)
    return entry


def group_for(session: Session, points: int) -> CustomerGroup | None:
    """The thresholds group whose range holds ``points``."""
    return session.scalars(
        select(CustomerGroup)
        .where(or_(CustomerGroup.min_points.is_not(None), CustomerGroup.max_points.is_not(None)))
        .where(and_(or_(CustomerGroup.min_points.is_(None), CustomerGroup.min_points <= points),
                    or_(CustomerGroup.max_points.is_(None), CustomerGroup.max_points >= points)))
        .order_by(func.coalesce(CustomerGroup.min_points, -(2**31)).desc(), CustomerGroup.id)
        .limit(1)
    ).first()


def regroup(session: Session, customer: Customer) -> CustomerGroup | None:
    """Put ``customer`` in the group its points belong to; returns its group afterwards."""
    current = session.get(CustomerGroup, customer.group_id) if customer.group_id else None
    if current is not None and current.min_points is None and current.max_points is None:
        return current  # a group given by hand, not by points
    found = group_for(session, customer.points or 0)
    new_id = found.id if found is not None else None
    if new_id != customer.group_id:
        customer.group_id = new_id
        session.flush()
    return found
