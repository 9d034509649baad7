"""The access matrix is enforced on menus, pages and actions, not only on links."""

from __future__ import annotations

import pytest

from seed.loader import access_matrix


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("manager", ["orders", "customers", "deleted_orders"], ["payment_gateways", "settings"]),
        ("marketer", ["discounts", "customer_groups"], ["orders", "payment_gateways"]),
        ("administrator", ["shipping_methods", "payment_gateways", "lockers"], ["orders"]),
        ("accountant", ["orders", "invoices", "payouts"], ["discounts", "users"]),
        ("courier", ["orders"], ["customers", "merchants"]),
        ("merchant", ["orders", "parcels", "products"], ["users", "payment_gateways"]),
    ],
)
def test_role_sees_only_its_tables(signed_in, make, role: str, allowed: list[str],  # type: ignore[no-untyped-def]
                                   refused: list[str]) -> None:
    merchant = make("Merchant")
    browser = signed_in(role, merchant_id=merchant.id if role == "merchant" else None)
    home = browser.get("/admin/").text
    for table in allowed:
        assert browser.get(f"/admin/{table}/list").status_code == 200, table
        assert f"/admin/{table}/list" in home, f"{table} missing from the menu"
    for table in refused:
        assert browser.get(f"/admin/{table}/list").status_code == 403, table
        assert f"/admin/{table}/list" not in home, f"{table} shown in the menu"
    if role == "merchant":  # groups with nothing to open are not shown at all
        assert 'data-sqladmin-menu-category="Settings"' not in home
        assert 'data-sqladmin-menu-category="Sales"' in home


def test_read_only_role_cannot_edit_create_or_delete(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    browser = signed_in("accountant")
    assert browser.get(f"/admin/orders/details/{order.id}").status_code == 200
    assert browser.get(f"/admin/orders/edit/{order.id}").status_code == 403
    assert browser.get("/admin/orders/create").status_code == 403
    assert browser.delete(f"/admin/orders/delete?pks={order.id}").status_code == 403
    assert browser.post(f"/admin/deleted_orders/action/restore?pks={order.id}").status_code == 403


def test_access_matrix_names_only_real_views() -> None:
    from admin.app import generated_views

    identities = {v.identity for v in generated_views()}
    for role, grants in access_matrix().items():
        assert {table for table, _ in grants} <= identities, role
