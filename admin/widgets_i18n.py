"""The strings of the admin's JavaScript widgets, in the reader's language.

sqladmin's scripts write English into the page: the textarea's character counter, Select2's
messages and the date picker's months, weekdays and labels. The page carries them translated
as JSON (``postdesk/_widget_strings.html``) and ``postdesk-static/widgets_i18n.js`` hands them
to the widgets. Messages go through the catalogs; month and weekday names come from CLDR (via
Babel), which already has them for every language — flatpickr's own locale files are not
bundled with sqladmin.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from babel import Locale
from babel.dates import get_day_names, get_month_names

from locales import get_language, gettext
from schema.base import N_

# sqladmin's filter operations, named in English in its code; the operation_filter template
# translates them, and these marks put them in the catalogs.
FILTER_OPERATIONS = (N_("Contains"), N_("Equals"), N_("Starts with"), N_("Ends with"),
                     N_("Greater than"), N_("Less than"))

# The territory fixes the first day of the week: Monday in Russia, Saturday in Iran.
CLDR_LOCALES = {"en": "en_US", "ru": "ru_RU", "fa": "fa_IR"}


@cache
def _calendar_names(lang: str) -> dict[str, Any]:
    locale = Locale.parse(CLDR_LOCALES.get(lang, lang))

    def capitalized(names: dict[int, str]) -> list[str]:
        # Russian stand-alone month names are lower case in CLDR; a calendar title is not.
        return [names[key][:1].upper() + names[key][1:] for key in sorted(names)]

    def from_sunday(names: dict[int, str]) -> list[str]:
        return [names[(day + 6) % 7] for day in range(7)]  # CLDR counts from Monday = 0

    return {
        "months": {
            "longhand": capitalized(get_month_names("wide", "stand-alone", locale)),
            "shorthand": capitalized(get_month_names("abbreviated", "stand-alone", locale)),
        },
        "weekdays": {
            "longhand": from_sunday(get_day_names("wide", "stand-alone", locale)),
            "shorthand": from_sunday(get_day_names("short", "stand-alone", locale)),
        },
        "firstDayOfWeek": (locale.first_week_day + 1) % 7,  # flatpickr: Sunday = 0
    }


def widget_strings() -> dict[str, Any]:
    """Everything the widgets say, for the current request's language."""
    lang = get_language()
    return {
        "lang": lang,
        # "%(count)s" (and "%(max)s") are filled in by the script as the person types.
        "chars": gettext("Number of characters: %(count)s"),
        "chars_max": gettext("Number of characters: %(count)s / %(max)s"),
        "select2": {
            "search": gettext("Search"),
            "inputTooShort": gettext("Type to search"),
            "searching": gettext("Searching…"),
            "noResults": gettext("No results found"),
            "loadingMore": gettext("Loading more results…"),
            "errorLoading": gettext("The results could not be loaded."),
            "removeAllItems": gettext("Remove all items"),
            "removeItem": gettext("Remove item"),
        },
        "flatpickr": {
            **_calendar_names(lang),
            "time_24hr": True,
            "scrollTitle": gettext("Scroll to increment"),
            "toggleTitle": gettext("Click to toggle"),
            "yearAriaLabel": gettext("Year"),
            "monthAriaLabel": gettext("Month"),
            "hourAriaLabel": gettext("Hour"),
            "minuteAriaLabel": gettext("Minute"),
        },
    }
