"""A success message after every save through the generic forms (create, edit, delete), in
the person's language, shown once on the page the save leads to."""

from __future__ import annotations

import html
import random
import re
import string

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from locales import translations
from schema.people import CurrencyRow
from tests.conftest import form_fields


def _toasts(page: str) -> list[str]:
    return [html.unescape(t).strip() for t in re.findall(
        r'<div class="toast-body">(.*?)</div>', page, re.DOTALL)]


def _code(factory: sessionmaker[Session]) -> str:
    with factory() as s:
        taken = set(s.scalars(select(CurrencyRow.code)))
    while True:
        code = "".join(random.choices(string.ascii_uppercase, k=3))
        if code not in taken:
            return code


def _t(lang: str, message: str, **values: object) -> str:
    return translations(lang).gettext(message) % values


def test_create_edit_delete_each_say_so(factory: sessionmaker[Session], signed_in,  # type: ignore[no-untyped-def]
                                         ) -> None:
    browser = signed_in("superuser")
    code = _code(factory)
    form = form_fields(browser.get("/admin/currencies/create").text)
    created = browser.post("/admin/currencies/create?lang=en",
                           {**form, "code": code, "name": "Quatloo", "decimals": "2"})
    assert "invalid-feedback" not in created.text, re.findall(
        r'invalid-feedback[^>]*>([^<]*)', created.text)
    assert created.status_code == 200 and created.history  # redirected after the save
    assert _toasts(created.text) == [f"Created: {code}."]
    assert _toasts(browser.get("/admin/currencies/list").text) == []  # shown once

    with factory() as s:
        row_id = s.scalars(select(CurrencyRow.id).where(CurrencyRow.code == code)).one()
    form = form_fields(browser.get(f"/admin/currencies/edit/{row_id}").text)
    saved = browser.post(f"/admin/currencies/edit/{row_id}?lang=ru",
                         {**form, "name": "Quatloo II"})
    assert saved.status_code == 200
    assert _toasts(saved.text) == [_t("ru", "Saved: %(record)s.", record=code)]

    deleted = browser.delete(f"/admin/currencies/delete?pks={row_id}&lang=fa")
    assert deleted.status_code == 200
    assert _toasts(browser.get(deleted.text).text) == [_t("fa", "The record was deleted.")]


def test_a_refused_save_says_nothing_of_success(signed_in) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")
    response = browser.post("/admin/currencies/create?lang=en",
                            {"code": "", "name": "", "decimals": "x"})
    assert not any(t.startswith(("Created", "Saved")) for t in _toasts(response.text))


def test_deleting_several_rows_says_how_many_once(factory: sessionmaker[Session], signed_in,  # type: ignore[no-untyped-def]
                                                  ) -> None:
    browser = signed_in("superuser")
    with factory() as s, s.begin():
        rows = [CurrencyRow(code=_code(factory), name=f"Zorkmid {i}", decimals=0)
                for i in range(3)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    deleted = browser.delete(f"/admin/currencies/delete?pks={','.join(map(str, ids))}&lang=en")
    assert deleted.status_code == 200
    assert _toasts(browser.get(deleted.text).text) == ["Records deleted: 3."]
