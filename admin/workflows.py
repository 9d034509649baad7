"""Workflow editing: roles and effects chosen from lists, problems shown on the workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from wtforms import SelectMultipleField, ValidationError

from admin.operations import run_in_transaction
from admin.views import PostdeskView
from locales import gettext, lazy_gettext
from schema.people import RoleCode
from schema.workflows import Workflow
from services.effects import EFFECTS
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


class WorkflowView(PostdeskView):
    details_template = "postdesk/workflow_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        context = await super().details_context(request)
        pk = request.path_params.get("pk", "")

        def load(session: Session) -> list[Any]:
            workflow = session.get(Workflow, int(pk))
            return problems(session, workflow.code) if workflow is not None else []

        context["problems"] = await run_in_transaction(self.session_maker, load) \
            if pk.isdigit() else []
        return context
