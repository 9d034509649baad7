"""Postdesk's tables. Importing this package registers every mapped class on ``Base``."""

from __future__ import annotations

from schema import (
    audit,
    base,
    catalog,
    couriers,
    customers,
    discounts,
    invoices,
    jobs,
    lockers,
    notifications,
    orders,
    payments,
    people,
    pickup_points,
    preferences,
    shipping,
    workflows,
)
from schema.base import Base

__all__ = [
    "Base",
    "all_models",
    "audit",
    "base",
    "catalog",
    "couriers",
    "customers",
    "discounts",
    "invoices",
    "jobs",
    "lockers",
    "model_for",
    "notifications",
    "orders",
    "payments",
    "people",
    "pickup_points",
    "preferences",
    "shipping",
    "workflows",
]


def all_models() -> list[type[Base]]:
    """Every mapped class, sorted by table name."""
    classes: list[type[Base]] = [mapper.class_ for mapper in Base.registry.mappers]
    return sorted(classes, key=lambda cls: cls.__table__.name)


def model_for(table: str) -> type[Base]:
    """The mapped class of a table name (workflows and the admin name tables, not classes)."""
    for mapper in Base.registry.mappers:
        if mapper.local_table.name == table:
            return mapper.class_
    raise LookupError(f"no table {table!r}")
