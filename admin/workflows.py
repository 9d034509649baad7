"""Workflow editing: roles and effects chosen from lists, problems shown on the workflow, and
for the workflows of an order's status and shipping status what each state lets the order's
page edit (``WorkflowState.items_editable`` / ``recipient_editable``, read by
``services.order_edits``): explained under the state form's checkboxes and tabled on the
workflow's page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from wtforms import SelectMultipleField, ValidationError

from admin.operations import run_in_transaction
from admin.views import PostdeskView
from locales import get_language, gettext, lazy_gettext
from rules.workflow import N_
from schema.people import RoleCode
from schema.workflows import Workflow, WorkflowState
from services.effects import EFFECTS
from services.order_edits import EDIT_GOVERNING_FIELDS
from services.workflow_guard import problems


class _Choices(SelectMultipleField):
    """A JSON list column edited as a multiple choice; stored as the list of codes."""

    def pre_validate(self, form: Any) -> None:
        known = {value for value, _ in self.choices}  # type: ignore[misc]
        unknown = [v for v in self.data or [] if v not in known]
        if unknown:
            message = gettext("Unknown choice: %(value)s") % {"value": ", ".join(unknown)}
            raise ValidationError(message)


class TransitionView(PostdeskView):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.form_overrides = {**cls.form_overrides, "roles": _Choices, "effects": _Choices}
        cls.form_args = {
            **cls.form_args,
            "roles": {"choices": [(r.value, lazy_gettext(r.label)) for r in RoleCode],
                      "description": lazy_gettext("None chosen: every role may.")},
            "effects": {"choices": [(e.code, lazy_gettext(e.label)) for e in EFFECTS.values()]},
        }


# Help under the state form's edit flags.
STATE_HELP: dict[str, str] = {
    "items_editable": N_("For an order's status or shipping status: while an order is in this "
                         "state its items and its shipping and payment methods may change. "
                         "Both the status and the shipping status must allow it."),
    "recipient_editable": N_("For an order's status or shipping status: while an order is in "
                             "this state its recipient may be corrected. Untick once the order "
                             "has reached the customer."),
}


class StateView(PostdeskView):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.form_args = {**cls.form_args, **{
            name: {**cls.form_args.get(name, {}), "description": lazy_gettext(text)}
            for name, text in STATE_HELP.items()}}


def edit_flags(workflow: Workflow) -> list[WorkflowState]:
    """The states whose flags the order's page reads, in position order; none for a workflow
    of another column."""
    if workflow.entity != "orders" or workflow.field not in EDIT_GOVERNING_FIELDS:
        return []
    return sorted(workflow.states, key=lambda s: (s.position, s.id))


class WorkflowView(PostdeskView):
    details_template = "postdesk/workflow_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        context = await super().details_context(request)
        pk = request.path_params.get("pk", "")

        def load(session: Session) -> tuple[list[Any], list[dict[str, Any]]]:
            workflow = session.get(Workflow, int(pk))
            if workflow is None:
                return [], []
            states = [{"id": s.id, "label": s.label_for(get_language()),
                       "items_editable": s.items_editable,
                       "recipient_editable": s.recipient_editable}
                      for s in edit_flags(workflow)]
            return problems(session, workflow.code), states

        found = await run_in_transaction(self.session_maker, load) if pk.isdigit() else ([], [])
        context["problems"], context["edit_flags"] = found
        return context
