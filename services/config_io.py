"""Rule tables as one YAML document: dump from one install, review, load into another.

Covered: customer groups, postal systems and payment gateways (never their secrets), payment
methods, shipping methods with their ordered cost rows, discounts, workflows with states and
transitions. Rows are matched by a natural key (name, code), never by database id, so a file
moves between installs. Loading parses and checks every row first; when anything is wrong it
reports every problem and applies nothing. Rows missing from the file are left as they are.

Neither dump nor load reads a secret: their queries leave every ``Encrypted`` column unloaded
(the dump makes touching one an error), so both work whatever key the secrets were written
under, and a dump never decrypts what it will not write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Integer, String, inspect, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Session, defer

from rules.workflow import StateDef, TransitionDef, WorkflowDef, validate
from schema.base import Encrypted, Money, UTCDateTime
from schema.catalog import Category, Product
from schema.customers import CustomerGroup
from schema.discounts import Discount
from schema.payments import PaymentGateway, PaymentMethod
from schema.people import Merchant, RoleCode
from schema.shipping import PostalSystem, ShippingCostRow, ShippingMethod
from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from services.effects import EFFECTS

FORMAT_VERSION = 1
SKIPPED = frozenset({"id", "created_at", "updated_at", "version"})


@dataclass(frozen=True)
class Section:
    name: str
    model: type
    key: str
    # foreign key column -> (relationship target, its natural key attribute)
    references: dict[str, tuple[type, str]] = field(default_factory=dict)
    not_config: frozenset[str] = frozenset()


SECTIONS = (
    Section("customer_groups", CustomerGroup, "name"),
    Section("postal_systems", PostalSystem, "name"),
    Section("payment_gateways", PaymentGateway, "name"),
    Section("payment_methods", PaymentMethod, "name",
            references={"gateway_id": (PaymentGateway, "name")}),
    Section("shipping_methods", ShippingMethod, "name",
            references={"postal_system_id": (PostalSystem, "name")}),
    Section("discounts", Discount, "name",
            references={"customer_group_id": (CustomerGroup, "name")},
            # usage counts are the shop's data, and a customer belongs to one install
            not_config=frozenset({"times_used", "customer_id"})),
)


class ConfigInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _columns(section: Section) -> list[Any]:
    return [c for c in inspect(section.model).columns
            if c.key not in SKIPPED and c.key not in section.not_config
            and not c.info.get("secret") and c.key != "certificate_name"]


def _secrets_unloaded(model: type, *, strict: bool) -> list[Any]:
    """Loader options that leave every encrypted column of ``model`` unread; ``strict`` makes
    touching one raise instead of loading (and decrypting) it."""
    return [defer(getattr(model, prop.key), raiseload=strict)
            for prop in inspect(model).column_attrs
            if isinstance(prop.columns[0].type, Encrypted)]


def _row_columns() -> list[Any]:
    return [c for c in inspect(ShippingCostRow).columns
            if c.key not in SKIPPED and c.key != "shipping_method_id"]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- dump ----------------------------------------------------------------------------------
def dump_config(session: Session) -> dict[str, Any]:
    document: dict[str, Any] = {"version": FORMAT_VERSION}
    for section in SECTIONS:
        rows = []
        ordered = (select(section.model).options(*_secrets_unloaded(section.model, strict=True))
                   .order_by(getattr(section.model, section.key)))
        for obj in session.scalars(ordered):
            row: dict[str, Any] = {}
            for column in _columns(section):
                if column.key in section.references:
                    target, key = section.references[column.key]
                    ref_id = getattr(obj, column.key)
                    row[column.key.removesuffix("_id")] = session.scalar(
                        select(getattr(target, key)).where(target.id == ref_id)) if ref_id else None
                else:
                    row[column.key] = _plain(getattr(obj, column.key))
            if isinstance(obj, ShippingMethod):
                row["categories"] = sorted(c.name for c in obj.categories)
                row["rows"] = [{c.key: _plain(getattr(r, c.key)) for c in _row_columns()}
                               for r in sorted(obj.rows, key=lambda r: r.position)]
            if isinstance(obj, Discount):
                row["products"] = sorted(
                    [{"merchant": p.merchant.name, "sku": p.sku} for p in obj.products],
                    key=lambda p: (p["merchant"], p["sku"]))
            rows.append(row)
        document[section.name] = rows
    document["workflows"] = [_dump_workflow(w) for w in
                             session.scalars(select(Workflow).order_by(Workflow.code))]
    return document


def _dump_workflow(workflow: Workflow) -> dict[str, Any]:
    state_fields = ("code", "label_en", "label_ru", "label_fa", "colour", "is_initial",
                    "is_terminal", "position", "items_editable", "recipient_editable")
    return {
        "code": workflow.code, "name": workflow.name, "entity": workflow.entity,
        "field": workflow.field, "description": workflow.description,
        "states": [{f: getattr(s, f) for f in state_fields}
                   for s in sorted(workflow.states, key=lambda s: (s.position, s.code))],
        "transitions": [
            {"from": t.from_state.code, "to": t.to_state.code, "name": t.name,
             "roles": list(t.roles or []), "requires_comment": t.requires_comment,
             "requires_date": t.requires_date, "effects": list(t.effects or [])}
            for t in sorted(workflow.transitions, key=lambda t: t.id)
        ],
    }


# --- parse and check -----------------------------------------------------------------------
def _required(column: Any) -> bool:
    return not column.nullable and column.default is None and column.server_default is None


def _parse(column: Any, value: Any, where: str, problems: list[str]) -> Any:
    if value is None:
        if not column.nullable:
            problems.append(f"{where}: {column.key} must not be empty")
        return None
    kind = column.type
    try:
        if isinstance(kind, Money):
            amount = Decimal(str(value))
            if amount != amount.quantize(Decimal("0.0001")):
                raise ValueError("more than 4 decimal places")
            return amount
        if isinstance(kind, SAEnum) and kind.enum_class is not None:
            return kind.enum_class(value)
        if isinstance(kind, Boolean):
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if isinstance(kind, Integer):
            if isinstance(value, bool) or int(value) != value:
                raise ValueError("expected a whole number")
            return int(value)
        if isinstance(kind, UTCDateTime):
            parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError("give the time zone, e.g. 2026-12-31T23:59:00+00:00")
            return parsed
        if isinstance(kind, String) and kind.length and len(str(value)) > kind.length:
            raise ValueError(f"longer than {kind.length} characters")
        return value if not isinstance(kind, String) else str(value)
    except (ValueError, InvalidOperation, TypeError) as exc:
        problems.append(f"{where}: {column.key}: {value!r} is not valid ({exc})")
        return None


@dataclass
class Plan:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    workflows: list[dict[str, Any]] = field(default_factory=list)


def check_config(session: Session, document: Any) -> Plan:
    """Parse and check every row; raise ConfigInvalid listing every problem found."""
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ConfigInvalid([f"the file must be a mapping with version: {FORMAT_VERSION}"])
    plan = Plan()
    names_in_file: dict[type, set[str]] = {}
    for section in SECTIONS:
        rows = document.get(section.name) or []
        if not isinstance(rows, list):
            problems.append(f"{section.name}: expected a list")
            continue
        known = {c.key for c in _columns(section)} | {
            k.removesuffix("_id") for k in section.references}
        if section.model is ShippingMethod:
            known |= {"categories", "rows"}
        if section.model is Discount:
            known |= {"products"}
        parsed_rows = []
        for i, row in enumerate(rows):
            label = row.get(section.key, "?") if isinstance(row, dict) else ""
            where = f"{section.name}[{i}] {label}"
            if not isinstance(row, dict):
                problems.append(f"{where}: expected a mapping")
                continue
            for extra in sorted(set(row) - known):
                problems.append(f"{where}: unknown field {extra}")
            parsed: dict[str, Any] = {}
            for column in _columns(section):
                if column.key in section.references:
                    continue
                if column.key in row:
                    parsed[column.key] = _parse(column, row[column.key], where, problems)
                elif _required(column):
                    problems.append(f"{where}: {column.key} is required")
            for fk, (target, key) in section.references.items():
                ref = row.get(fk.removesuffix("_id"))
                if ref is None:
                    parsed[fk] = None
                    continue
                in_file = ref in names_in_file.get(target, set())
                exists = session.scalar(select(target.id).where(getattr(target, key) == ref))
                if exists is None and not in_file:
                    problems.append(f"{where}: {fk.removesuffix('_id')} {ref!r} does not exist")
                parsed[fk] = ref
            if section.model is ShippingMethod:
                parsed["categories"] = _check_categories(session, row, where, problems)
                parsed["rows"] = _check_rows(row.get("rows") or [], where, problems)
            if section.model is Discount:
                parsed["products"] = _check_products(session, row, where, problems)
            parsed_rows.append(parsed)
        names_in_file[section.model] = {r.get(section.key) for r in parsed_rows}
        plan.rows[section.name] = parsed_rows
    for i, workflow in enumerate(document.get("workflows") or []):
        _check_workflow(workflow, f"workflows[{i}]", problems)
        plan.workflows.append(workflow)
    if problems:
        raise ConfigInvalid(problems)
    return plan


def _check_categories(session: Session, row: dict[str, Any], where: str,
                      problems: list[str]) -> list[Category]:
    found = []
    for name in row.get("categories") or []:
        category = session.scalar(select(Category).where(Category.name == name))
        if category is None:
            problems.append(f"{where}: category {name!r} does not exist")
        else:
            found.append(category)
    return found


def _check_rows(rows: list[Any], where: str, problems: list[str]) -> list[dict[str, Any]]:
    columns = _row_columns()
    parsed = []
    for i, row in enumerate(rows):
        here = f"{where} rows[{i}]"
        if not isinstance(row, dict):
            problems.append(f"{here}: expected a mapping")
            continue
        parsed.append({c.key: _parse(c, row[c.key], here, problems) for c in columns
                       if c.key in row})
        problems.extend(f"{here}: {c.key} is required" for c in columns
                        if c.key not in row and _required(c))
        for key in ("cost", "min_cart_price"):
            value = parsed[-1].get(key)
            if value is not None and value < 0:
                problems.append(f"{here}: {key} must not be negative")
    return parsed


def _check_products(session: Session, row: dict[str, Any], where: str,
                    problems: list[str]) -> list[Product]:
    found = []
    for ref in row.get("products") or []:
        product = session.scalar(
            select(Product).join(Merchant, Merchant.id == Product.merchant_id)
            .where(Merchant.name == ref.get("merchant"), Product.sku == ref.get("sku")))
        if product is None:
            problems.append(f"{where}: product {ref!r} does not exist")
        else:
            found.append(product)
    return found


def _check_workflow(workflow: Any, where: str, problems: list[str]) -> None:
    try:
        definition = WorkflowDef(
            code=workflow["code"],
            states=tuple(StateDef(s["code"], bool(s.get("is_initial")), bool(s.get("is_terminal")))
                         for s in workflow["states"]),
            transitions=tuple(
                TransitionDef(t["from"], t["to"], tuple(t.get("roles") or ()),
                              bool(t.get("requires_comment")), bool(t.get("requires_date")),
                              tuple(t.get("effects") or ()))
                for t in workflow.get("transitions") or []),
        )
    except (KeyError, TypeError) as exc:
        problems.append(f"{where}: missing {exc}")
        return
    for problem in validate(definition, frozenset(EFFECTS), frozenset(r.value for r in RoleCode)):
        if problem.level == "error":
            problems.append(f"{where} {definition.code}: {problem.message.render(str)}")


# --- apply ---------------------------------------------------------------------------------
def load_config(session: Session, document: Any) -> dict[str, int]:
    """Check everything, then apply in the caller's transaction. Returns rows written per part."""
    plan = check_config(session, document)
    written: dict[str, int] = {}
    for section in SECTIONS:
        count = 0
        for parsed in plan.rows[section.name]:
            values = dict(parsed)
            categories = values.pop("categories", None)
            cost_rows = values.pop("rows", None)
            products = values.pop("products", None)
            for fk, (target, key) in section.references.items():
                ref = values.get(fk)
                values[fk] = session.scalar(select(target.id).where(getattr(target, key) == ref)) \
                    if ref is not None else None
            obj = session.scalar(
                select(section.model).options(*_secrets_unloaded(section.model, strict=False))
                .where(getattr(section.model, section.key) == values[section.key]))
            if obj is None:
                obj = section.model()
                session.add(obj)
            for key, value in values.items():
                setattr(obj, key, value)
            if categories is not None:
                obj.categories = categories
            if cost_rows is not None:
                obj.rows = [ShippingCostRow(**r) for r in cost_rows]
            if products is not None:
                obj.products = products
            session.flush()
            count += 1
        written[section.name] = count
    written["workflows"] = sum(_apply_workflow(session, w) for w in plan.workflows)
    return written


def _apply_workflow(session: Session, data: dict[str, Any]) -> int:
    workflow = session.scalar(select(Workflow).where(Workflow.code == data["code"]))
    if workflow is None:
        workflow = Workflow(code=data["code"])
        session.add(workflow)
    for key in ("name", "entity", "field", "description"):
        setattr(workflow, key, data.get(key))
    states = {s.code: s for s in workflow.states}
    for state in data["states"]:
        row = states.get(state["code"]) or WorkflowState(workflow=workflow, code=state["code"])
        for key, value in state.items():
            setattr(row, key, value)
        states[state["code"]] = row
        session.add(row)
    session.flush()
    transitions = {(t.from_state.code, t.to_state.code): t for t in workflow.transitions}
    for item in data.get("transitions") or []:
        pair = (item["from"], item["to"])
        row = transitions.get(pair) or WorkflowTransition(
            workflow=workflow, from_state=states[item["from"]], to_state=states[item["to"]])
        row.name = item.get("name") or f"{item['from']} → {item['to']}"
        row.roles = list(item.get("roles") or [])
        row.effects = list(item.get("effects") or [])
        row.requires_comment = bool(item.get("requires_comment"))
        row.requires_date = bool(item.get("requires_date"))
        session.add(row)
    session.flush()
    return 1
