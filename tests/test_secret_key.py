"""Where the secret key lives: with the database, never with the working directory.

The commands run as subprocesses from different directories, the way an operator runs them.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.migrate import upgrade_head
from postdesk.settings import (
    LEGACY_SECRET_FILE,
    SecretKeyUnavailable,
    create_key_file,
    resolve_secret_key,
)
from tests.conftest import ROOT

PG_DEMO_URL = "postgresql+psycopg://postdesk@db.example:5432/shop"


def postdesk(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command with only the POSTDESK_* variables given here (none from the caller)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")}
    clean.update({"POSTDESK_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **env})
    return subprocess.run([sys.executable, "-m", "postdesk.cli", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("POSTDESK_SECRET_KEY", "POSTDESK_SECRET_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_from_any_directory_uses_the_key_beside_the_database(
    tmp_path: Path,
) -> None:
    home, elsewhere = tmp_path / "shop", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    url = f"sqlite:///{home}/shop.sqlite3"
    assert postdesk(home, "migrate", POSTDESK_DATABASE_URL=url).returncode == 0
    assert not (home / "shop.sqlite3.secret").exists()  # migrating needs no key
    seeded = postdesk(home, "seed", POSTDESK_DATABASE_URL=url)
    assert seeded.returncode == 0, seeded.stderr
    key_file = home / "shop.sqlite3.secret"
    key = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    dumped = postdesk(elsewhere, "config", "dump", "rules.yaml", POSTDESK_DATABASE_URL=url)
    assert dumped.returncode == 0, dumped.stderr
    assert key_file.read_text() == key
    assert not list(tmp_path.rglob(LEGACY_SECRET_FILE))
    assert sorted(p.name for p in tmp_path.rglob("*.secret")) == ["shop.sqlite3.secret"]


def test_secret_file_variable_wins_for_sqlite_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.sqlite3"
    named = tmp_path / "keys" / "postdesk.key"
    named.parent.mkdir()
    named.write_text("operator-chosen-key\n")
    upgrade_head(url)
    seeded = postdesk(tmp_path, "seed", POSTDESK_DATABASE_URL=url,
                      POSTDESK_SECRET_FILE=str(named))
    assert seeded.returncode == 0, seeded.stderr
    assert not (tmp_path / "shop.sqlite3.secret").exists()
    assert named.read_text() == "operator-chosen-key\n"


def test_postgresql_without_a_key_refuses_in_one_line(tmp_path: Path) -> None:
    # Refused before connecting: nothing listens on port 1.
    result = postdesk(tmp_path, "config", "dump", "rules.yaml",
                      POSTDESK_DATABASE_URL="postgresql://postdesk@127.0.0.1:1/shop")
    line = one_line_error(result)
    assert "POSTDESK_SECRET_KEY" in line and "POSTDESK_SECRET_FILE" in line
    assert not list(tmp_path.iterdir())


def test_postgresql_demo_keeps_a_key_per_database_in_the_state_directory(
    no_key_env: Path,
) -> None:
    with pytest.raises(SecretKeyUnavailable, match="POSTDESK_SECRET_FILE"):
        resolve_secret_key(PG_DEMO_URL, demo=False)
    first = resolve_secret_key(PG_DEMO_URL, demo=True)
    assert first.file == no_key_env / "state" / "postdesk" / \
        "demo-postgresql-db.example-5432-shop.secret"
    assert stat.S_IMODE(first.file.stat().st_mode) == 0o600
    os.chdir(no_key_env / "state")  # another working directory: the same key
    assert resolve_secret_key(PG_DEMO_URL, demo=True) == first
    other = resolve_secret_key(PG_DEMO_URL.replace("/shop", "/other"), demo=True)
    assert other.file != first.file and other.value != first.value


def test_a_legacy_key_in_the_working_directory_is_never_used(no_key_env: Path) -> None:
    legacy = no_key_env / LEGACY_SECRET_FILE
    legacy.write_text("the-old-demo-key")
    url = f"sqlite:///{no_key_env}/postdesk.sqlite3"
    upgrade_head(url)  # an existing database without a key file beside it
    line = one_line_error(postdesk(no_key_env, "seed", POSTDESK_DATABASE_URL=url))
    assert f"move it to {no_key_env}/postdesk.sqlite3.secret" in line
    assert not (no_key_env / "postdesk.sqlite3.secret").exists()
    legacy.rename(no_key_env / "postdesk.sqlite3.secret")  # what the message says to do
    assert resolve_secret_key(url, demo=False).value == "the-old-demo-key"
    # A new database has no secrets yet: a stray legacy file is ignored, not a reason to stop.
    legacy.write_text("unrelated")
    fresh = resolve_secret_key(f"sqlite:///{no_key_env}/new.sqlite3", demo=False)
    assert fresh.value != "unrelated"
    assert fresh.file == no_key_env / "new.sqlite3.secret"


def test_in_memory_database_gets_a_key_for_the_process_only(no_key_env: Path) -> None:
    key = resolve_secret_key("sqlite://", demo=False)
    assert key.file is None and key.value
    assert not list(no_key_env.iterdir())


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.secret"
    assert create_key_file(path, "first") is True
    assert create_key_file(path, "second") is False
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["k.secret"]  # no temporary file left


def _resolve_when_all_are_ready(url: str, barrier: object, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    out.put(resolve_secret_key(url, demo=False).value)  # type: ignore[attr-defined]


def test_processes_starting_at_once_agree_on_one_key(no_key_env: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{no_key_env}/race{round_}.sqlite3"
        barrier, out = ctx.Barrier(8), ctx.Queue()
        workers = [ctx.Process(target=_resolve_when_all_are_ready, args=(url, barrier, out))
                   for _ in range(8)]
        for worker in workers:
            worker.start()
        keys = {out.get(timeout=60) for _ in workers}
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        assert len(keys) == 1, keys
        assert (no_key_env / f"race{round_}.sqlite3.secret").read_text().strip() in keys
