"""Order operations other than status changes: assignments, postal hand-over, the bin."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from locales import translations
from schema.base import utcnow
from schema.couriers import Courier
from schema.orders import OperatorAssignment, Order
from schema.people import Role, RoleCode, User
from schema.shipping import PostalSystem
from services.actor import Actor
from services.errors import Refused
from services.outbox import queue_message
from services.status import change_status

OPERATOR_ROLES = (RoleCode.OPERATOR, RoleCode.MANAGER)


def get_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)  # scoped by the actor's merchant/role
    if order is None:
        raise Refused("The order was not found.")
    if order.deleted_at is not None:
        raise Refused("%(record)s is in the deleted list; restore it first.", record=str(order))
    return order


def assign_operator(session: Session, actor: Actor, order_id: int, operator_id: int,
                    comment: str | None = None) -> OperatorAssignment:
    order = get_order(session, order_id)
    operator = session.get(User, operator_id)
    if operator is None or not operator.active or operator.role.code not in OPERATOR_ROLES:
        raise Refused("Choose an active operator or store manager.")
    if order.operator_id == operator_id:
        raise Refused("%(record)s is already assigned to %(user)s.", record=str(order),
                      user=str(operator))
    assignment = OperatorAssignment(order_id=order.id, from_operator_id=order.operator_id,
                                    to_operator_id=operator_id, assigned_by_id=actor.user_id,
                                    comment=(comment or "").strip() or None)
    order.operator_id = operator_id
    session.add(assignment)
    session.flush()
    return assignment


def assign_courier(session: Session, actor: Actor, order_id: int, courier_id: int,
                   language: str = "en") -> Order:
    """Hand the order to a courier: its task starts at the courier workflow's first state and
    the courier gets an SMS (R-COUR-1)."""
    order = get_order(session, order_id)
    courier = session.get(Courier, courier_id)
    if courier is None or not courier.active:
        raise Refused("Choose an active courier.")
    if not courier.mobile:
        raise Refused("%(courier)s has no mobile number for the task SMS.", courier=str(courier))
    order.courier_id = courier.id
    order.courier_status = None
    session.flush()
    change_status(session, actor, table="orders", record_id=order.id, field="courier_status",
                  to_state="assigned", language=language)
    text = translations(language).gettext("New delivery task: %(order)s, %(address)s.") % {
        "order": order.number,
        "address": ", ".join(filter(None, (order.recipient_city, order.recipient_address))) or "—",
    }
    queue_message(session, "sms", courier.mobile, text, related_table="orders",
                  related_id=order.id)
    return order


def send_to_postal_system(session: Session, actor: Actor, order_id: int, postal_system_id: int,
                          comment: str | None = None, effective_date: date | None = None,
                          language: str = "en") -> Order:
    """Hand the order to an active postal system; its shipping status follows the workflow."""
    order = get_order(session, order_id)
    system = session.get(PostalSystem, postal_system_id)
    if system is None or not system.active:
        raise Refused("Choose an active postal system.")
    order.postal_system_id = system.id
    session.flush()
    change_status(
        session, actor, table="orders", record_id=order.id, field="shipping_status",
        to_state="handed_to_postal",
        comment=comment or translations(language).gettext("Handed to %(system)s.")
        % {"system": system.name},
        effective_date=effective_date or utcnow().date(), language=language,
    )
    return order


def delete_order(session: Session, actor: Actor, order_id: int) -> Order:
    order = get_order(session, order_id)
    order.deleted_at = utcnow()
    session.flush()
    return order


def active_operators(session: Session) -> list[User]:
    return list(session.scalars(
        select(User).join(Role, User.role_id == Role.id)
        .where(User.active, Role.code.in_(OPERATOR_ROLES))
        .order_by(User.full_name)
    ))
