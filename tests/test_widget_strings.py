"""No English widget string on a Russian or Persian page (R-I18N-2), in a real browser.

sqladmin's filter template, form macros and scripts (the textarea's character counter,
Select2, the flatpickr date picker) wrote English into every page whatever its language. The
test reads what a person sees in Chromium — the text of the page, placeholders, tooltips,
the options of the drop-downs, the open date picker and the counter after typing — on a list
with filters and on a create form with a date field, a textarea and an ajax select.

Screenshots of the pages go to ``$POSTDESK_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from locales import parse_date
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 - fixtures

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
# What sqladmin, Select2 and flatpickr say in English, each matched as whole words.
# Our own English for them as well, in case a catalog lacks it.
ENGLISH = ("Enter value", "Select operation", "Number of characters", "Search",
           "This is a required field", "Current:", "[Clear]", "Id", "Equals", "Contains",
           "Greater than", "Scroll to increment", "Please enter",
           "Choose a comparison", "Type to search", "Searching", "No results found")
# Rows of other tests share the database: month names and "Hour" are looked for only in the
# date picker, where no data is shown.
CALENDAR_ENGLISH = (*MONTHS, "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Year", "Month",
                    "Hour", "Minute")

# Every text a person can read or hear: text nodes (scripts aside), placeholders, tooltips,
# accessible names, button values and the options of the drop-downs.
SEEN_TEXT = """root => {
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest('script, style, template')) out.push(walker.currentNode.data);
  }
  root.querySelectorAll('[placeholder], [title], [aria-label], input[type=submit]')
    .forEach(el => ['placeholder', 'title', 'aria-label', 'value'].forEach(name => {
      if (name !== 'value' || el.type === 'submit') out.push(el.getAttribute(name) || '');
    }));
  return out.join('\\n');
}"""


def _english(text: str, words: tuple[str, ...]) -> list[str]:
    return [w for w in words if re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text)]


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("POSTDESK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_widgets_speak_the_page_language(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make, lang: str  # noqa: F811 - fixtures
) -> None:
    make("Discount", expires_at=datetime(2030, 1, 1, tzinfo=UTC))  # a row the filter shows
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    try:
        _sign_in(page, live_server, make_user("superuser", language=lang))

        # A list with filters: an operation filter (the expiry date) with a value chosen, so
        # its "current filter" line shows too; yes/no and choice filters.
        page.goto(f"{live_server}/admin/discounts/list?lang={lang}"
                  "&expires_at_op=greater_than&expires_at=2020-01-01")
        # The filter bar shows the date filter as from/to (postdesk/list.html), in the
        # reader's calendar.
        shown = page.locator("input[name=expires_at_from]").input_value()
        assert parse_date(shown) == date(2020, 1, 1), shown
        text = page.locator("body").evaluate(SEEN_TEXT)
        assert not _english(text, ENGLISH), (lang, _english(text, ENGLISH))
        _shoot(page, f"{lang}-discounts-list")

        # A create form: a textarea with its counter (after typing), a date-time picker
        # (opened), an ajax select (opened: Select2's prompt) and required fields.
        page.goto(f"{live_server}/admin/discounts/create?lang={lang}")
        page.fill("textarea[name=description]", "Двенадцать")
        counter = page.locator(".chars-count-label").first.inner_text()
        assert re.search(r"[\d۰-۹]", counter) and "Number" not in counter, counter
        assert page.locator("label[title]").count() > 0  # a required field's tooltip
        expiry = page.locator("input[name=expires_at]")
        if lang == "fa":
            # No browser picker counts Solar Hijri days: the reader types the Jalali date
            # (admin/form_display.py), hinted in Persian digits, and no Gregorian calendar opens.
            hint = expiry.get_attribute("placeholder") or ""
            assert re.search(r"[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}", hint), hint
            expiry.click()
            assert page.locator(".flatpickr-calendar.open").count() == 0
        else:
            expiry.click()
            calendar = page.locator(".flatpickr-calendar.open")
            calendar.wait_for()
            calendar_text = calendar.evaluate(SEEN_TEXT) + "\n" + calendar.evaluate(
                "c => [...c.querySelectorAll('option')].map(o => o.textContent).join('\\n')")
            assert not _english(calendar_text, CALENDAR_ENGLISH), (
                lang, _english(calendar_text, CALENDAR_ENGLISH))
            _shoot(page, f"{lang}-discount-form-calendar")
            page.keyboard.press("Escape")
        ajax = page.locator("select[data-role=select2-ajax] + .select2-container").first
        ajax.click()
        page.locator(".select2-results").wait_for()
        text = page.locator("body").evaluate(SEEN_TEXT)
        assert not _english(text, ENGLISH), (lang, _english(text, ENGLISH))
        _shoot(page, f"{lang}-discount-form")
    finally:
        page.close()


def test_english_pages_keep_their_widget_strings(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user  # noqa: F811 - fixtures
) -> None:
    """The guard of the test above: in English the same reading finds the widgets' texts."""
    page = chromium.new_page()
    try:
        _sign_in(page, live_server, make_user("superuser", language="en"))
        page.goto(f"{live_server}/admin/discounts/create?lang=en")
        page.fill("textarea[name=description]", "Twelve")
        page.click("input[name=expires_at]")
        page.locator(".flatpickr-calendar.open").wait_for()
        text = page.locator("body").evaluate(SEEN_TEXT)
        assert {"Number of characters", "This is a required field", "Search"} <= set(
            _english(text, ENGLISH)), text[-2000:]
        assert {"Hour", "Minute"} <= set(_english(text, CALENDAR_ENGLISH)), text[-2000:]
        assert any(month in text for month in MONTHS)
    finally:
        page.close()
