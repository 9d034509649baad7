"""The tariff price file (services.tariff_import): refused whole with every problem, or
upserted by (zone, size); as CSV and XLSX, through the admin page and `postdesk tariffs load`."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.lockers import CellSize, LockerTariff
from schema.people import RoleCode
from seed.demo import factories as f
from services.tariff_import import TariffFileInvalid, load_tariffs

D = Decimal
HEADER = "zone,size,pickup,delivery,storage,storage_days,unused,extra_day,currency\n"


@pytest.fixture
def zone(factory: sessionmaker[Session]) -> int:
    with factory() as s, f.using_session(s):
        row = f.ZoneFactory(number=7)
        s.flush()
        zone_id = row.id
        s.commit()
    return zone_id


def _rows(session: Session, zone: int) -> dict[str, tuple[Any, ...]]:
    return {(t.size.value if t.size else ""): (t.pickup_price, t.delivery_price,
                                               t.storage_price_3_days, t.storage_days,
                                               t.unused_price, t.extra_day_price, t.currency)
            for t in session.scalars(select(LockerTariff).where(LockerTariff.zone_id == zone,
                                     LockerTariff.size.in_([CellSize.L, CellSize.XL])))}


def test_a_bad_file_is_refused_whole_with_every_problem(factory: sessionmaker[Session],
                                                        zone: int) -> None:
    data = (HEADER
            + "7,xl,3.00,4.00,2.00,3,1.50,0.70,BYN\n"   # fine, but not applied
            + "99,l,3,4,2,3,1,1,BYN\n"                  # row 3: unknown zone
            + "7,l,-1,4,2,3,1,1,BYN\n"                  # row 4: negative price
            + "7,XL,3,4,2,3,1,1,BYN\n"                  # row 5: duplicate of row 2
            + "7,xxl,abc,4,2,0,1,1,ZZZ\n"               # row 6: size, number, days, currency
            + "7,,3.001,4,2,3,1,1,BYN\n").encode()      # row 7: more decimals than BYN
    with factory() as session:
        before = session.scalar(select(func.count(LockerTariff.id)))
        with pytest.raises(TariffFileInvalid) as refused:
            load_tariffs(session, data)
        session.rollback()
        problems = refused.value.render_all(str)
        assert len(problems) == 8, problems
        assert problems[0] == "Row 3, zone: there is no zone 99."
        assert problems[1] == "Row 4, pickup: a price cannot be negative (-1)."
        assert problems[2] == "Row 5: zone 7, size XL is already on row 2."
        assert problems[3].startswith("Row 6, size: xxl is not a cell size")
        assert "Row 6, currency: ZZZ" in problems[4] and "Row 6, pickup: abc" in problems[5]
        assert problems[6].startswith("Row 6, storage_days: 0 is not a whole number")
        assert problems[7] == ("Row 7, pickup: 3.001 has more decimal places than BYN has "
                               "(2).")
        assert session.scalar(select(func.count(LockerTariff.id))) == before


def test_missing_columns_are_named(factory: sessionmaker[Session]) -> None:
    with factory() as session, pytest.raises(TariffFileInvalid) as refused:
        load_tariffs(session, b"zone;size;pickup\n7;s;1\n")
    assert [p.split(" (")[0] for p in refused.value.render_all(str)] == [
        f"The file has no column {c}" for c in ("delivery", "storage", "storage_days",
                                                "unused", "extra_day", "currency")]


def test_a_good_csv_is_upserted_by_zone_and_size(factory: sessionmaker[Session],
                                                 zone: int) -> None:
    first = (HEADER + "7,xl,3.00,4.00,2.00,3,1.50,0.70,BYN\n7,l,1,1,1,5,0,0,BYN\n").encode()
    with factory() as session, session.begin():
        load_tariffs(session, first)
    again = ("\ufeff" + HEADER.replace(",", ";")
             + "Z7;XL;3,50;4;2;4;1.50;0.75;BYN\n").encode()  # by code, comma decimals, BOM
    with factory() as session, session.begin():
        loaded = load_tariffs(session, again)
        assert (loaded.added, loaded.updated) == (0, 1)
    with factory() as session:
        rows = _rows(session, zone)
        assert rows["xl"] == (D("3.50"), D("4"), D("2"), 4, D("1.50"), D("0.75"), "BYN")
        assert rows["l"] == (D("1"), D("1"), D("1"), 5, D("0"), D("0"), "BYN")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_through_the_admin_page_and_the_command(
        signed_in: Any, factory: sessionmaker[Session], zone: int, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    header = HEADER.strip().split(",")
    good = _xlsx([header, [7, "L", 0.1, 2, 3.25, 3, 1, 0.7, "BYN"]])
    browser = signed_in(RoleCode.ADMINISTRATOR)
    assert browser.get("/admin/tariff-import").status_code == 200
    sent = browser.post("/admin/tariff-import", files={"file": ("tariffs.xlsx", good)})
    assert sent.status_code == 200 and 'id="tariff-loaded"' in sent.text, sent.text
    with factory() as session:
        assert _rows(session, zone)["l"][:3] == (D("0.1"), D("2"), D("3.25"))
    bad = _xlsx([header, [7, "L", -2, 2, 3, 3, 1, 0.7, "BYN"], [42, "", 1, 1, 1, 3, 1, 1, "BYN"]])
    refused = browser.post("/admin/tariff-import", files={"file": ("tariffs.xlsx", bad)})
    assert refused.status_code == 400
    assert "Row 2, pickup" in refused.text and "Row 3, zone" in refused.text
    assert browser.get("/admin/tariff-import").status_code == 200
    assert signed_in(RoleCode.MANAGER).get("/admin/tariff-import").status_code in (403, 404)

    import postdesk.runtime
    from postdesk.cli import cmd_tariffs
    monkeypatch.setattr(postdesk.runtime, "session_factory", lambda: factory)
    path = tmp_path / "bad.xlsx"
    path.write_bytes(bad)
    with pytest.raises(SystemExit):
        cmd_tariffs(type("Args", (), {"action": "load", "file": str(path)})())
    assert "Nothing was loaded: 2 problem(s)" in capsys.readouterr().out
    path.write_bytes(good)
    cmd_tariffs(type("Args", (), {"action": "load", "file": str(path)})())
    assert "Tariffs loaded: 0 added, 1 updated." in capsys.readouterr().out
