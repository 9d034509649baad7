"""Catalog maintenance behind ``postdesk i18n``: extract, update, check.

The template (``postdesk.pot``) holds Postdesk's strings from Python and templates, plus every
string of sqladmin's own interface, so the en/ru/fa catalogs translate the whole page.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from locales import DOMAIN, LANGUAGES, LOCALES_DIR, po_path

ROOT = LOCALES_DIR.parent
POT = LOCALES_DIR / f"{DOMAIN}.pot"
SOURCE_DIRS = ("schema", "admin", "services", "api", "reports", "rules", "seed", "postdesk")
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "N_": None}


def refusal_keywords() -> dict[str, None]:
    """Every refusal class: each takes its English message as the first argument and is
    translated when shown, so its calls are extracted like gettext calls."""
    import importlib
    import pkgutil

    import services
    from services.errors import Refused

    for module in pkgutil.iter_modules(services.__path__):
        importlib.import_module(f"services.{module.name}")
    found, todo = {}, [Refused]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = None
        todo.extend(cls.__subclasses__())
    return found


def sqladmin_template() -> Catalog:
    import sqladmin

    path = Path(sqladmin.__file__).parent / "translations" / "admin.pot"
    with path.open("rb") as fp:
        return read_po(fp)


def extract() -> int:
    catalog = Catalog(project="Postdesk", domain=DOMAIN, fuzzy=False)
    for message in sqladmin_template():
        if message.id:
            catalog.add(message.id, locations=[("sqladmin", 0)])
    for directory in SOURCE_DIRS:
        path = ROOT / directory
        if not path.exists():
            continue
        for filename, lineno, message, comments, _ctx in extract_from_dir(
            str(path), METHOD_MAP, OPTIONS, {**KEYWORDS, **refusal_keywords()}
        ):
            catalog.add(message, locations=[(f"{directory}/{filename}", lineno)],
                        auto_comments=comments)
    with POT.open("wb") as fp:
        write_po(fp, catalog, omit_header=False, sort_output=True, include_lineno=False)
    return len(catalog)


def _read(path: Path, lang: str) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def update() -> dict[str, int]:
    """Merge the template into each language catalog; returns untranslated counts."""
    result = {}
    for lang in LANGUAGES:
        template = _read(POT, "en")  # fresh each time: update() shares message objects
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = _read(path, lang) if path.exists() else Catalog(locale=lang, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if lang == "en":
            # English is the source language: its translation is the message itself.
            for message in catalog:
                filled = all(message.string) if isinstance(message.string, tuple) \
                    else message.string
                if message.id and not filled:
                    message.string = message.id
        with path.open("wb") as fp:
            write_po(fp, catalog, sort_output=True, include_lineno=False, width=100)
        result[lang] = sum(1 for m in catalog if m.id and not (
            all(m.string) if isinstance(m.string, tuple) else m.string))
    return result


def missing(lang: str) -> list[str]:
    template = _read(POT, "en")
    catalog = _read(po_path(lang), lang)
    problems = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) \
            else (entry.string if entry is not None else "",)
        if entry is None or not all(strings) or entry.fuzzy:
            problems.append(str(message.id))
    return problems


def compile_check() -> list[str]:
    """Every template message translated in every language (the tests run the same check)."""
    problems = []
    for lang in LANGUAGES:
        problems += [f"{lang}: untranslated: {msgid!r}" for msgid in missing(lang)]
    return problems
