"""Per-table behaviour the hints cannot express: extra views, actions and form handling."""

from __future__ import annotations

from typing import Any

from sqladmin import action
from sqlalchemy import Select
from starlette.requests import Request
from starlette.responses import RedirectResponse

from admin.views import PostdeskView, build_view
from locales import gettext, lazy_gettext
from schema.orders import Order
from schema.people import User
from services.accounts import hash_password


class UserView(PostdeskView):
    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        if data.get("password_hash"):
            data["password_hash"] = hash_password(data["password_hash"])
        elif is_created:
            raise ValueError(gettext("Set a password for the new user."))


class DeletedOrdersView(PostdeskView):
    """Orders moved to the bin (R-ORD-4): viewable and restorable, not editable."""

    def list_query(self, request: Request) -> Select:
        return super(PostdeskView, self).list_query(request).where(
            Order.deleted_at.is_not(None)
        )

    def details_query(self, request: Request) -> Select:
        return super().details_query(request).where(Order.deleted_at.is_not(None))

    @action(name="restore", label=lazy_gettext("Restore"), add_in_detail=True, add_in_list=True)
    async def restore(self, request: Request) -> RedirectResponse:
        for pk in filter(None, request.query_params.get("pks", "").split(",")):
            await self.set_deleted(pk, None)
        return RedirectResponse(request.url_for("admin:list", identity=self.identity), 303)


class OrderView(PostdeskView):
    def details_query(self, request: Request) -> Select:
        return super().details_query(request).where(Order.deleted_at.is_(None))

    def form_edit_query(self, request: Request) -> Select:
        return super().form_edit_query(request).where(Order.deleted_at.is_(None))


BASES: dict[type, type[PostdeskView]] = {User: UserView, Order: OrderView}


def extra_views() -> list[type[PostdeskView]]:
    deleted = build_view(Order, DeletedOrdersView)
    deleted.identity = "deleted_orders"
    deleted.name = lazy_gettext("Deleted order")
    deleted.name_plural = lazy_gettext("Deleted orders")
    deleted.icon = "fa-solid fa-trash-can"
    deleted.can_create = deleted.can_edit = deleted.can_delete = False
    return [deleted]
