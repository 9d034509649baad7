"""Rule tables as one YAML file: dump, move to another install, load; all or nothing."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from schema.payments import PaymentGateway
from schema.shipping import ShippingMethod
from schema.workflows import Workflow, WorkflowState
from seed.demo import factories
from seed.loader import load_seed_data
from services.config_io import ConfigInvalid, dump_config, load_config


def _install(path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{path}"
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        load_seed_data(session)
    return factory


@pytest.fixture
def source(tmp_path: Path) -> sessionmaker[Session]:
    factory = _install(tmp_path / "source.sqlite3")
    with factory() as session, factories.using_session(session):
        postal = factories.PostalSystemFactory(name="Belpost", password="secret-pass",
                                               api_key="secret-key")
        method = factories.ShippingMethodFactory(name="Pishtaz post", cost_rule="by_weight",
                                                 base_cost=Decimal(200), currency="IRR",
                                                 postal_system=postal)
        factories.ShippingCostRowFactory(shipping_method=method, position=1,
                                         min_cart_price=Decimal(100000), cost=Decimal(3500))
        gateway = factories.PaymentGatewayFactory(name="Mellat", password="gw-secret",
                                                  api_key="gw-key")
        factories.PaymentMethodFactory(name="Online", gateway=gateway,
                                       discount_value=Decimal(2))
        factories.DiscountFactory(name="Welcome", code="WELCOME10")
        session.commit()
    return factory


def test_dump_holds_the_rule_tables_but_no_secret(source: sessionmaker[Session]) -> None:
    with source() as session:
        document = dump_config(session)
    text = yaml.safe_dump(document, allow_unicode=True)
    assert "secret-pass" not in text and "gw-secret" not in text and "gw-key" not in text
    pishtaz = next(m for m in document["shipping_methods"] if m["name"] == "Pishtaz post")
    assert pishtaz["postal_system"] == "Belpost"
    assert pishtaz["rows"][0]["min_cart_price"] == "100000" and pishtaz["rows"][0]["cost"] == "3500"
    assert {w["code"] for w in document["workflows"]} >= {"order_status", "parcel"}


def test_settings_move_to_another_install(source: sessionmaker[Session], tmp_path: Path) -> None:
    with source() as session:
        document = dump_config(session)
    target = _install(tmp_path / "target.sqlite3")
    with target() as session, session.begin():
        written = load_config(session, document)
    assert written["shipping_methods"] == 1 and written["workflows"] == len(document["workflows"])
    with target() as session:
        method = session.scalar(select(ShippingMethod).where(ShippingMethod.name == "Pishtaz post"))
        assert method.base_cost == Decimal(200) and [r.cost for r in method.rows] == [Decimal(3500)]
        assert method.postal_system.name == "Belpost"
        gateway = session.scalar(select(PaymentGateway).where(PaymentGateway.name == "Mellat"))
        assert gateway.password is None  # secrets are entered on each install, never copied
    with target() as session, session.begin():  # loading the same file again changes nothing
        load_config(session, document)
    with target() as session:
        assert len(session.scalars(select(ShippingMethod)).all()) == 1


def test_edits_in_the_file_are_applied(source: sessionmaker[Session]) -> None:
    with source() as session:
        document = dump_config(session)
    edited = copy.deepcopy(document)
    method = next(m for m in edited["shipping_methods"] if m["name"] == "Pishtaz post")
    method["rows"][0]["cost"] = "4000"
    order_status = next(w for w in edited["workflows"] if w["code"] == "order_status")
    next(s for s in order_status["states"] if s["code"] == "confirmed")["label_en"] = "Paid"
    with source() as session, session.begin():
        load_config(session, edited)
    with source() as session:
        method_row = session.scalar(select(ShippingMethod).where(
            ShippingMethod.name == "Pishtaz post"))
        assert [r.cost for r in method_row.rows] == [Decimal(4000)]
        label = session.scalar(select(WorkflowState.label_en).join(Workflow).where(
            Workflow.code == "order_status", WorkflowState.code == "confirmed"))
        assert label == "Paid"


def test_one_bad_row_applies_nothing_and_names_every_problem(source: sessionmaker[Session]) -> None:
    with source() as session:
        document = dump_config(session)
    bad = copy.deepcopy(document)
    bad["shipping_methods"][0]["base_cost"] = "twelve"
    bad["shipping_methods"][0]["rows"][0]["cost"] = "-5"
    bad["payment_methods"][0]["gateway"] = "No such gateway"
    bad["customer_groups"] = [{"name": "VIP", "min_points": 1.5}]
    order_status = next(w for w in bad["workflows"] if w["code"] == "order_status")
    for state in order_status["states"]:
        state["is_initial"] = False
    bad["discounts"][0]["name"] = "Renamed but never saved"
    with source() as session, pytest.raises(ConfigInvalid) as invalid:
        with session.begin():
            load_config(session, bad)
    problems = "\n".join(invalid.value.problems)
    for expected in ("base_cost", "must not be negative", "No such gateway", "min_points",
                     "no initial state"):
        assert expected in problems, problems
    with source() as session:
        assert session.scalar(select(ShippingMethod.base_cost).where(
            ShippingMethod.name == "Pishtaz post")) == Decimal(200)


def test_command_line_dump_and_refused_load(source: sessionmaker[Session], tmp_path: Path) -> None:
    env = {**os.environ, "POSTDESK_DATABASE_URL": f"sqlite:///{tmp_path}/source.sqlite3",
           "POSTDESK_LOG_LEVEL": "WARNING", "POSTDESK_SECRET_KEY": "test-secret"}
    file = tmp_path / "rules.yaml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "postdesk.cli", "config", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    dumped = run("dump", str(file))
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    document = yaml.safe_load(file.read_text(encoding="utf-8"))
    document["payment_gateways"][0]["conversion_op"] = "square"
    file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    refused = run("load", str(file))
    assert refused.returncode == 1 and "Nothing was loaded" in refused.stdout
    assert "conversion_op" in refused.stdout
