"""The ``postdesk`` command.

A missing or wrong secret key ends any command with one line on stderr and exit status 1,
never a traceback: ``SecretKeyUnavailable`` (no key could be found or made),
``SecretKeyMismatch`` (stored secrets were encrypted under another key) and ``RotationFailed``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEMO_PASSWORD = "demo"


def _configure_logging() -> None:
    # Not through get_settings(): commands that need no secret key (help, i18n, migrate) must
    # neither need one nor create a key file.
    from postdesk.settings import log_level_from_env

    logging.basicConfig(
        level=log_level_from_env(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_migrate(_args: argparse.Namespace) -> None:
    from postdesk.migrate import upgrade_head
    from postdesk.settings import database_url_from_env

    upgrade_head(database_url_from_env())
    print("Database is at the latest migration.")


def cmd_seed(_args: argparse.Namespace) -> None:
    from postdesk.runtime import session_factory
    from seed.loader import load_seed_data

    with session_factory()() as session, session.begin():
        counts = load_seed_data(session)
    print("Seed data loaded: " + ", ".join(f"{k} +{v}" for k, v in counts.items()))


def cmd_createuser(args: argparse.Namespace) -> None:
    from postdesk.runtime import session_factory
    from services.accounts import create_user

    password = args.password or getpass.getpass("Password: ")
    with session_factory()() as session, session.begin():
        user = create_user(session, args.username, password, args.role,
                           merchant_id=args.merchant, language=args.language)
    print(f"User {user.username} created with role {args.role}.")


def cmd_apikey(args: argparse.Namespace) -> None:
    from postdesk.runtime import session_factory
    from services.api_keys import issue_api_key

    with session_factory()() as session, session.begin():
        key = issue_api_key(session, args.merchant)
    print(f"API key for merchant {args.merchant} (shown once; the previous key stops working):")
    print(key)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from admin.app import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")


def cmd_demo(args: argparse.Namespace) -> None:
    os.environ.setdefault("POSTDESK_DEMO", "1")
    from postdesk.migrate import upgrade_head
    from postdesk.runtime import session_factory
    from postdesk.settings import get_settings
    from seed.demo.shop import build_demo_shop
    from seed.loader import load_seed_data

    settings = get_settings()
    upgrade_head(settings.database_url)
    with session_factory()() as session, session.begin():
        load_seed_data(session)
    with session_factory()() as session, session.begin():
        logins = build_demo_shop(session, password=DEMO_PASSWORD)
    url = f"http://{args.host}:{args.port}/admin"
    print("\nPostdesk demo shop is ready.")
    print(f"  Open {url}")
    print(f"  Sign in with any of these users, password '{DEMO_PASSWORD}' (demo only):")
    for username, role in logins:
        print(f"    {username:<16} {role}")
    print()
    cmd_serve(args)


def cmd_worker(args: argparse.Namespace) -> None:
    import signal
    import threading

    # Registers the periodic jobs: the sweep of background jobs, the lockers' reminders and
    # storage expiry (services.parcel_expiry), the weekly payouts (services.payouts).
    import services.jobs
    import services.parcel_expiry
    import services.payouts  # noqa: F401
    from postdesk.runtime import session_factory
    from services.providers import providers_from_env
    from services.worker import run_worker

    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C does not wait for the batch
            raise KeyboardInterrupt
        print("Stopping after the current message...", flush=True)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print("Worker started" + (" (until nothing is due)." if args.once else "; Ctrl-C stops it."),
          flush=True)
    try:
        run_worker(session_factory(), providers_from_env(), stop=stop, poll_seconds=args.poll,
                   once=args.once, on_batch=lambda report: print(report, flush=True))
    except KeyboardInterrupt:
        print("Interrupted.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Worker stopped.")


def cmd_config(args: argparse.Namespace) -> None:
    import yaml

    from postdesk.runtime import session_factory
    from services.config_io import ConfigInvalid, dump_config, load_config

    if args.action == "dump":
        with session_factory()() as session:
            document = dump_config(session)
        with open(args.file, "w", encoding="utf-8") as fp:
            yaml.safe_dump(document, fp, allow_unicode=True, sort_keys=False, width=100)
        print(f"Rule tables written to {args.file}.")
        return
    with open(args.file, encoding="utf-8") as fp:
        document = yaml.safe_load(fp)
    try:
        with session_factory()() as session, session.begin():
            written = load_config(session, document)
    except ConfigInvalid as invalid:
        print(f"Nothing was loaded: {len(invalid.problems)} problem(s) in {args.file}:")
        for problem in invalid.problems:
            print(f"  - {problem}")
        sys.exit(1)
    print("Loaded: " + ", ".join(f"{k} {v}" for k, v in written.items()))


def cmd_tariffs(args: argparse.Namespace) -> None:
    """Load the tariff price file (services.tariff_import): every problem, or every row."""
    from postdesk.runtime import session_factory
    from services.tariff_import import TariffFileInvalid, load_tariffs

    with open(args.file, "rb") as fp:
        data = fp.read()
    try:
        with session_factory()() as session, session.begin():
            loaded = load_tariffs(session, data)
    except TariffFileInvalid as invalid:
        print(f"Nothing was loaded: {len(invalid.problems)} problem(s) in {args.file}:")
        for problem in invalid.render_all(str):
            print(f"  - {problem}")
        sys.exit(1)
    print(f"Tariffs loaded: {loaded.added} added, {loaded.updated} updated.")


def cmd_secrets(args: argparse.Namespace) -> None:
    """Rotate: the old key is the one in use; the new one comes from --new-key-file, or is
    generated into ``<key file>.new``, which replaces the key file once the transaction has
    committed. A crash in between leaves the ``.new`` file, and a rerun resumes with it."""
    from postdesk.runtime import session_factory
    from postdesk.settings import (
        SecretKeyUnavailable,
        get_settings,
        read_or_create_key_file,
        replace_key_file,
    )
    from services.secrets import RotationFailed, rotate_secrets

    settings = get_settings()
    if args.new_key_file:
        new_file = Path(args.new_key_file).expanduser().resolve()
    elif settings.secret_file is not None:
        new_file = settings.secret_file.with_name(settings.secret_file.name + ".new")
    else:
        raise SecretKeyUnavailable(
            "The secret key comes from POSTDESK_SECRET_KEY, which this command cannot change: "
            "give --new-key-file PATH (a file holding the new key; created when missing).")
    if new_file.exists():
        print(f"The new key is the one in {new_file}.")
    new_key = read_or_create_key_file(new_file)
    try:
        with session_factory()() as session, session.begin():
            counts = rotate_secrets(session, [settings.secret_key], new_key)
    except RotationFailed as failed:
        raise RotationFailed(f"{failed} Nothing was changed; the new key stays in {new_file} "
                             "for the next run.") from None
    print(f"{sum(counts.values())} secret(s) re-encrypted under the new key ("
          + ", ".join(f"{table} {n}" for table, n in counts.items()) + ").")
    if args.new_key_file or settings.secret_file is None:
        print(f"Now set POSTDESK_SECRET_FILE={new_file} (or POSTDESK_SECRET_KEY to its content) "
              "for every server and worker of this database, and restart them.")
        return
    replace_key_file(new_file, settings.secret_file)
    print(f"{settings.secret_file} now holds the new key. Restart every server and worker of "
          "this database; copy the file to the other machines that run one first.")


def cmd_i18n(args: argparse.Namespace) -> None:
    from locales.catalogs import compile_check, extract, update

    if args.step == "extract":
        n = extract()
        print(f"locales/postdesk.pot: {n} messages")
    elif args.step == "update":
        for lang, missing in update().items():
            print(f"{lang}: {missing} untranslated")
    else:
        problems = compile_check()
        for p in problems:
            print(p)
        sys.exit(1 if problems else 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def web(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("serve", help="run the web server")
    web(p)
    p.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("seed", help="load roles, access matrix and defaults (idempotent)").set_defaults(
        func=cmd_seed
    )
    p = sub.add_parser("createuser", help="create a user")
    p.add_argument("username")
    p.add_argument("--role", default="superuser")
    p.add_argument("--password", help="prompted for when omitted")
    p.add_argument("--merchant", type=int, help="merchant id, for merchant users")
    p.add_argument("--language", default="en", choices=("en", "ru", "fa"))
    p.set_defaults(func=cmd_createuser)
    p = sub.add_parser("apikey", help="issue a store plugin's API key for a merchant")
    p.add_argument("--merchant", type=int, required=True, help="merchant id")
    p.set_defaults(func=cmd_apikey)
    p = sub.add_parser("demo", help="migrate, seed, build the demo shop and serve (safe to rerun)")
    web(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("worker", help="send queued SMS and e-mail, run periodic jobs")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS",
                   help="pause when nothing is due (default 2)")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("config", help="rule tables as one YAML file: dump FILE / load FILE")
    p.add_argument("action", choices=("dump", "load"))
    p.add_argument("file")
    p.set_defaults(func=cmd_config)
    p = sub.add_parser("tariffs", help="locker tariffs: load FILE (XLSX or CSV, all or nothing)")
    p.add_argument("action", choices=("load",))
    p.add_argument("file")
    p.set_defaults(func=cmd_tariffs)
    p = sub.add_parser("secrets", help="secrets at rest: rotate (re-encrypt under a new key)")
    p.add_argument("action", choices=("rotate",))
    p.add_argument("--new-key-file", metavar="PATH",
                   help="the new key's file (created with a new key when missing); by default "
                        "the current key file is replaced after the re-encryption commits")
    p.set_defaults(func=cmd_secrets)
    p = sub.add_parser("i18n", help="translation catalogs: extract, update, check")
    p.add_argument("step", choices=("extract", "update", "check"))
    p.set_defaults(func=cmd_i18n)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    from postdesk.settings import SecretKeyUnavailable
    from schema.base import SecretKeyMismatch
    from services.secrets import RotationFailed

    args = build_parser().parse_args(argv)
    if args.command == "demo":  # before the settings are read: demo mode decides the key
        os.environ.setdefault("POSTDESK_DEMO", "1")
    _configure_logging()
    try:
        args.func(args)
    except SecretKeyMismatch as exc:
        sys.exit(f"postdesk: {exc}{_key_in_use()}")
    except (SecretKeyUnavailable, RotationFailed) as exc:
        sys.exit(f"postdesk: {exc}")


def _key_in_use() -> str:
    from postdesk.settings import get_settings

    return f" The key in use comes from {get_settings().secret_source}."


if __name__ == "__main__":
    main()
