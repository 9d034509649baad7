"""The generated admin: every table has a page in every language, grouped by job."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import schema
from admin.app import generated_views
from locales import LANGUAGES
from tests.conftest import ROOT

VIEWS = [v for v in generated_views() if v.is_model]
IDENTITIES = [v.identity for v in VIEWS]


def test_every_table_has_a_view() -> None:
    assert {m.__tablename__ for m in schema.all_models()
            if hasattr(m, "__admin__")} <= set(IDENTITIES)
    # Tables without admin hints have no page on purpose: a person's list preferences are
    # edited on the lists themselves (admin/list_preferences.py).
    assert {m.__tablename__ for m in schema.all_models()
            if not hasattr(m, "__admin__")} <= {"list_preferences"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_menu_entry_opens_for_the_superuser(signed_in, lang: str) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")
    for identity in IDENTITIES:
        page = browser.get(f"/admin/{identity}/list?lang={lang}")
        assert page.status_code == 200, (identity, page.text[:500])
        assert f'lang="{lang}"' in page.text
    for view in VIEWS:
        page = browser.get(f"/admin/{view.identity}/create")
        assert page.status_code == (200 if view.can_create else 403), (view.identity, page.text)


def test_persian_pages_are_right_to_left(signed_in) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")
    page = browser.get("/admin/orders/list?lang=fa")
    assert '<html lang="fa" dir="rtl">' in page.text
    assert "rtl.css" in page.text
    assert "سفارش" in page.text  # "order" in the menu and title
    css = browser.get("/admin/postdesk-static/rtl.css")
    assert css.status_code == 200 and "direction: rtl" in css.text
    assert browser.get("/admin/postdesk-static/fonts/Vazirmatn-Regular.woff2").status_code == 200


def test_russian_menu_is_translated(signed_in) -> None:  # type: ignore[no-untyped-def]
    page = signed_in("superuser").get("/admin/orders/list?lang=ru")
    assert "Продажи" in page.text and "Заказы" in page.text
    flags = signed_in("superuser").get("/admin/merchants/list?lang=ru").text
    assert "Нет" in flags.split("data-postdesk-filters", 1)[1]  # the yes/no filter


def test_language_choice_persists_for_the_user(signed_in, browser) -> None:  # type: ignore[no-untyped-def]
    first = signed_in("manager")
    first.get("/admin/orders/list?lang=fa")
    username = first.get("/admin/").text.split("data-postdesk-user>")[1].split(" ")[0]
    first.client.cookies.clear()
    response = first.login(username)
    assert "postdesk_lang=fa" in response.headers.get("set-cookie", "")


def test_a_new_schema_class_gets_a_list_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Adding an entity is one class: declare a throwaway table and find its page."""
    script = textwrap.dedent(f"""
        import re
        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column
        from starlette.testclient import TestClient
        from schema.base import N_, AdminHints, Base, Editable, label

        class Gadget(Editable, Base):
            __tablename__ = "gadgets"
            __admin__ = AdminHints(label=N_("Gadget"), plural=N_("Gadgets"),
                                   menu=N_("Catalog"), list=("id", "name"), search=("name",))
            name: Mapped[str] = mapped_column(String(50), info=label(N_("Name")))

        from postdesk.db import make_engine, make_session_factory
        from postdesk.settings import Settings
        from seed.loader import load_seed_data
        from services.accounts import create_user
        from admin.app import create_app
        url = "sqlite:///{tmp_path}/g.sqlite3"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        with make_session_factory(engine)() as s, s.begin():
            load_seed_data(s)
            create_user(s, "root", "pw", "superuser")
        app = create_app(Settings(url, "k", "WARNING", 3600, False, False), engine)
        c = TestClient(app)
        token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/admin/login").text)[1]
        c.post("/admin/login", data={{"username": "root", "password": "pw", "csrf_token": token}})
        page = c.get("/admin/gadgets/list")
        assert page.status_code == 200 and "Gadgets" in page.text, page.status_code
        print("OK")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip().endswith("OK"), result.stderr[-3000:]


def test_a_refused_page_keeps_the_menu(signed_in) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    refused = manager.get("/admin/payment_gateways/list")
    assert refused.status_code == 403
    assert 'id="navbar-menu"' in refused.text and "Back to the start page" in refused.text
    assert 'href="http://testserver/admin/orders/list"' in refused.text
