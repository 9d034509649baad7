"""Editing workflows in the admin: broken results are refused with the reason, nothing saved."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from tests.conftest import unique


@pytest.fixture
def scratch(factory: sessionmaker[Session], make):  # type: ignore[no-untyped-def]
    """A small workflow of its own on orders.tracking_number, so no real status is touched."""
    order = make("Order", tracking_number=unique("TRK"))
    with factory() as session, session.begin():
        workflow = Workflow(code=unique("wf"), name="Scratch", entity="orders",
                            field="tracking_number")
        start = WorkflowState(workflow=workflow, code="start", label_en="Start", colour="#111111",
                              is_initial=True, position=1)
        used = WorkflowState(workflow=workflow, code=order.tracking_number, label_en="Used",
                             colour="#222222", position=2)
        session.add_all([workflow, start, used,
                         WorkflowTransition(workflow=workflow, from_state=start, to_state=used,
                                            roles=[], effects=[], name="start → used")])
        session.flush()
        ids = {"workflow": workflow.id, "start": start.id, "used": used.id}
    return ids


def _state_form(page: str, **changes: str) -> dict[str, str]:
    def value(name: str) -> str:
        found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', page)
        return found.group(1) if found else ""

    form = {name: value(name) for name in ("code", "label_en", "label_ru", "label_fa", "colour",
                                            "position", "version")}
    workflow = re.search(r'<option selected value="(\d+)"', page) or re.search(
        r'<option value="(\d+)" selected', page)
    form["workflow"] = workflow.group(1) if workflow else ""
    if re.search(r'name="is_initial"[^>]*checked', page):
        form["is_initial"] = "y"
    form.update(changes)
    return {k: v for k, v in form.items() if v != "__drop__"}


def test_removing_the_only_initial_state_is_refused(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in("administrator")
    page = admin.get(f"/admin/workflow_states/edit/{scratch['start']}").text
    form = _state_form(page, workflow=str(scratch["workflow"]), is_initial="__drop__")
    response = admin.post(f"/admin/workflow_states/edit/{scratch['start']}", form)
    assert response.status_code == 400
    assert "no initial state" in response.text
    with factory() as session:
        assert session.get(WorkflowState, scratch["start"]).is_initial


def test_a_second_initial_state_is_refused(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in("administrator")
    response = admin.post("/admin/workflow_states/create", {
        "workflow": str(scratch["workflow"]), "code": "another", "label_en": "Another",
        "colour": "#333333", "position": "3", "is_initial": "y",
    })
    assert response.status_code == 400 and "initial states" in response.text
    with factory() as session:
        assert session.scalar(select(WorkflowState).where(
            WorkflowState.workflow_id == scratch["workflow"],
            WorkflowState.code == "another")) is None


def test_a_state_that_records_are_in_cannot_be_deleted(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in("administrator")
    admin.delete(f"/admin/workflow_states/delete?pks={scratch['used']}")
    with factory() as session:
        assert session.get(WorkflowState, scratch["used"]) is not None


def test_a_transition_to_another_workflows_state_is_refused(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        foreign = session.scalar(select(WorkflowState.id).join(Workflow).where(
            Workflow.code == "parcel", WorkflowState.code == "registered"))
    admin = signed_in("administrator")
    response = admin.post("/admin/workflow_transitions/create", {
        "workflow": str(scratch["workflow"]), "from_state": str(scratch["used"]),
        "to_state": str(foreign), "name": "sideways", "roles": "manager",
    })
    assert response.status_code == 400
    assert "does not have" in response.text
    with factory() as session:
        assert session.scalar(select(WorkflowTransition).where(
            WorkflowTransition.name == "sideways")) is None


def test_roles_and_effects_are_chosen_from_lists(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in("administrator")
    form = admin.get("/admin/workflow_transitions/create").text
    assert 'value="notify_customer_sms"' in form and 'value="courier"' in form
    with factory() as session, session.begin():
        back = WorkflowState(workflow_id=scratch["workflow"], code="back", label_en="Back",
                             colour="#444444", position=3)
        session.add(back)
        session.flush()
        back_id = back.id
    response = admin.post("/admin/workflow_transitions/create", {
        "workflow": str(scratch["workflow"]), "from_state": str(scratch["used"]),
        "to_state": str(back_id), "name": "used → back", "roles": ["manager", "operator"],
        "effects": ["notify_courier"], "requires_comment": "y",
    }, follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        created = session.scalar(select(WorkflowTransition).where(
            WorkflowTransition.name == "used → back"))
        assert created.roles == ["manager", "operator"] and created.effects == ["notify_courier"]
    bad = admin.post("/admin/workflow_transitions/create", {
        "workflow": str(scratch["workflow"]), "from_state": str(back_id),
        "to_state": str(scratch["start"]), "name": "bad", "roles": ["astronaut"],
    })
    assert bad.status_code == 400


def test_unreachable_states_are_flagged_on_the_workflow(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in("administrator")
    response = admin.post("/admin/workflow_states/create", {
        "workflow": str(scratch["workflow"]), "code": "island", "label_en": "Island",
        "colour": "#555555", "position": "9",
    }, follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    page = admin.get(f"/admin/workflows/details/{scratch['workflow']}").text
    assert re.search(r"island\s+of the workflow \S+ cannot be reached", page), page[-3000:]
    seeded = admin.get("/admin/workflows/list").text
    assert "order_status" in seeded or "Order status" in seeded


def test_a_states_edit_flags_are_edited_with_their_help(signed_in, scratch, factory) -> None:  # type: ignore[no-untyped-def]
    """The flags the order page reads (items and methods, recipient) are checkboxes of the state
    form, explained under them; a new state closes item edits and leaves the recipient open."""
    admin = signed_in("administrator")
    form = admin.get(f"/admin/workflow_states/edit/{scratch['used']}").text
    assert 'name="items_editable"' in form and 'name="recipient_editable"' in form
    assert "its items and its shipping and payment methods may change" in form
    with factory() as session:
        used = session.get(WorkflowState, scratch["used"])
        assert (used.items_editable, used.recipient_editable) == (False, True)
    fields = _state_form(form, workflow=str(scratch["workflow"]), items_editable="y")
    response = admin.post(f"/admin/workflow_states/edit/{scratch['used']}", fields,
                          follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        used = session.get(WorkflowState, scratch["used"])
        # An unticked box is sent as nothing: the recipient flag is now off.
        assert (used.items_editable, used.recipient_editable) == (True, False)


def test_an_order_workflow_page_tables_what_each_state_lets_the_order_page_edit(  # type: ignore[no-untyped-def]
        signed_in, scratch, factory) -> None:
    admin = signed_in("administrator")
    with factory() as session:
        ids = dict(session.execute(select(Workflow.code, Workflow.id)).all())
        shipped = session.scalar(select(WorkflowState.id).where(
            WorkflowState.workflow_id == ids["order_status"], WorkflowState.code == "shipped"))
        confirmed = session.scalar(select(WorkflowState.id).where(
            WorkflowState.workflow_id == ids["order_status"], WorkflowState.code == "confirmed"))
    page = admin.get(f"/admin/workflows/details/{ids['order_status']}").text
    assert 'id="workflow-edit-flags"' in page

    def flags(state_id: int) -> list[str]:
        row = re.search(rf'data-state-id="{state_id}">(.*?)</tr>', page, re.S)
        assert row, state_id
        return re.findall(r'data-on="(\w+)"', row.group(1))

    assert flags(confirmed) == ["yes", "yes"] and flags(shipped) == ["no", "yes"]
    # Parcels' and the scratch workflow's states have no such table.
    assert 'id="workflow-edit-flags"' not in admin.get(
        f"/admin/workflows/details/{ids['parcel']}").text
    assert 'id="workflow-edit-flags"' not in admin.get(
        f"/admin/workflows/details/{scratch['workflow']}").text
