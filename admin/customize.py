"""Per-table behaviour the hints cannot express: extra views, actions and form handling."""

from __future__ import annotations

import types
from typing import Any

from sqladmin import BaseView
from starlette.requests import Request

from admin.cash_collection import CashToCollectView
from admin.couriers import CourierView, MyTasksView
from admin.jobs import DownloadsView
from admin.locker_page import LockerView
from admin.merchant_cabinet import MerchantCabinetView
from admin.orders import DeletedOrdersView, OrderView
from admin.parcel_page import ParcelView
from admin.parcel_registration import ParcelRegistrationView
from admin.payouts import BASES as PAYOUT_BASES
from admin.printing import BASES as PRINT_BASES
from admin.printing import MerchantStatementView, PrintView
from admin.reports_page import ReportsView
from admin.rule_tables import (
    DiscountView,
    GatewayRulesView,
    PaymentMethodView,
    ShippingCostRowView,
    ShippingMethodView,
)
from admin.sorting_center import SortingCenterView
from admin.tariff_import import TariffImportView
from admin.terminal_simulator import TerminalSimulatorView
from admin.topups import StatementImportView, TopUpView
from admin.views import PostdeskView, build_view
from admin.workflows import StateView, TransitionView, WorkflowView
from locales import gettext, lazy_gettext
from schema.couriers import Courier
from schema.discounts import Discount
from schema.lockers import Locker, Parcel
from schema.orders import Order
from schema.payments import PaymentGateway, PaymentMethod
from schema.people import DEVICE_ROLES, User
from schema.shipping import ShippingCostRow, ShippingMethod
from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from services.accounts import hash_password


class UserView(PostdeskView):
    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        role = data.get("role")
        if role is not None and getattr(role, "code", None) in DEVICE_ROLES:
            raise ValueError(gettext("%(role)s is a device's role, not a person's: choose "
                                     "another role.") % {"role": gettext(role.code.label)})
        if data.get("password_hash"):
            data["password_hash"] = hash_password(data["password_hash"])
        elif is_created:
            raise ValueError(gettext("Set a password for the new user."))


BASES: dict[type, type[PostdeskView]] = {
    User: UserView, Order: OrderView, Courier: CourierView, Workflow: WorkflowView,
    WorkflowTransition: TransitionView, WorkflowState: StateView,
    PaymentGateway: GatewayRulesView,
    Discount: DiscountView, ShippingMethod: ShippingMethodView,
    ShippingCostRow: ShippingCostRowView, PaymentMethod: PaymentMethodView,
    Locker: LockerView,  # the locker page
    **PRINT_BASES,
    **PAYOUT_BASES,  # the payouts' page and steps, on the statements' base (after it: wins)
    Parcel: ParcelView,  # the parcel page, on the stickers' base (after it: this one wins)
}


def extra_views() -> list[type[PostdeskView] | type[BaseView]]:
    deleted = build_view(Order, DeletedOrdersView)
    deleted.identity = "deleted_orders"
    deleted.name = lazy_gettext("Deleted order")
    deleted.name_plural = lazy_gettext("Deleted orders")
    deleted.icon = "fa-solid fa-trash-can"
    deleted.can_create = deleted.can_edit = deleted.can_delete = False
    # Fresh subclasses: sqladmin binds a view class to the admin it is added to (its
    # ``_admin_ref``, templates and session maker), so two apps in one process (a test's own
    # app on its own database) must not share these classes.
    pages = [MyTasksView, ReportsView, PrintView, MerchantStatementView, DownloadsView,
             ParcelRegistrationView, SortingCenterView, TerminalSimulatorView]
    pages.append(CashToCollectView)  # admin/cash_collection.py
    pages += [TopUpView, StatementImportView, MerchantCabinetView]  # issue 13: balance
    pages.append(TariffImportView)  # admin/tariff_import.py
    return [deleted, *(types.new_class(page.__name__, (page,)) for page in pages)]
