"""Report queries: every figure of the Reports page, computed in the database.

``REPORTS`` is the catalogue the page offers, in its order; ``run_report`` runs one. The
queries read the schema directly (never the web) and return plain ``Report`` structures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from reports.queries.common import Report, ReportParams
from reports.queries.delivery import courier_performance, lockers
from reports.queries.finance import gateway_reconciliation, merchant_balances
from reports.queries.sales import customers, discount_usage, goods_sold, orders_by_status
from schema.base import N_
from schema.catalog import Warehouse


@dataclass(frozen=True)
class ReportDef:
    code: str
    title: str  # an msgid
    build: Callable[[Session, ReportParams], Report]


REPORTS: dict[str, ReportDef] = {
    d.code: d for d in (
        ReportDef("orders_by_status", N_("Orders by status"), orders_by_status),
        ReportDef("goods_sold", N_("Goods sold"), goods_sold),
        ReportDef("customers", N_("Customers and their preferences"), customers),
        ReportDef("discount_usage", N_("Discount usage"), discount_usage),
        ReportDef("courier_performance", N_("Courier performance"), courier_performance),
        ReportDef("lockers", N_("Lockers: occupancy, expired parcels, cash"), lockers),
        ReportDef("gateway_reconciliation", N_("Gateway transactions for reconciliation"),
                  gateway_reconciliation),
        ReportDef("merchant_balances", N_("Merchant balances and payouts"), merchant_balances),
    )
}


def run_report(session: Session, code: str, params: ReportParams) -> Report:
    """Build report ``code``; LookupError for a code the catalogue does not have."""
    definition = REPORTS.get(code)
    if definition is None:
        raise LookupError(f"no report {code!r}")
    report = definition.build(session, params)
    if params.warehouse_id is not None:
        # Looked up through the session: another merchant's warehouse reads as missing.
        warehouse = session.get(Warehouse, params.warehouse_id)
        report.warehouse = warehouse.name if warehouse is not None else None
    return report


__all__ = ["REPORTS", "Report", "ReportDef", "ReportParams", "run_report"]
