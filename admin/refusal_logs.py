"""Expected refusals are logged at INFO, in one line, without a traceback.

sqladmin logs every exception its create, edit, delete and import handlers catch with
``logger.exception`` (ERROR and a traceback) before it shows the message above the form. A
refusal is the application doing its job, not a failure, so a filter on those loggers rewrites
the record of a refusal to one INFO line — ``refused (<class>): <message as the person saw it>``
— with no traceback. Any other exception keeps its ERROR record and traceback.

A refusal is one of ``EXPECTED`` (subclasses included), or an exception explicitly raised from
one (``raise ... from``, as ``admin.views`` translates a ``Refused`` into the ``ValueError``
sqladmin shows): someone saved the record first (``ConflictError``, SQLAlchemy's
``StaleDataError``), a service or workflow refused (``Refused``), an edit would break a
workflow (``WorkflowInvalid``), a write reached another merchant's row (``ScopeViolation``).
An exception merely raised *while handling* a refusal (its ``__context__``) is a bug and stays
an error.

The record keeps the logger's name; it is dropped when that logger does not log INFO
(``POSTDESK_LOG_LEVEL=WARNING``). A refusal that escapes to the server (a 500 from uvicorn) is
left an error on purpose: the person got an error page instead of the reason, which is a bug.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm.exc import StaleDataError

from admin.views import ConflictError
from services.errors import Refused
from services.scoping import ScopeViolation
from services.workflow_guard import WorkflowInvalid

EXPECTED: tuple[type[BaseException], ...] = (
    ConflictError, StaleDataError, Refused, WorkflowInvalid, ScopeViolation,
)
LOGGERS = ("sqladmin.application", "sqladmin._import")


def expected_refusal(exc: BaseException | None) -> BaseException | None:
    """The refusal ``exc`` is, or was explicitly raised from; None for anything else."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, EXPECTED):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__
    return None


class RefusalsAtInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info:
            return True
        shown = record.exc_info[1]
        refusal = expected_refusal(shown)
        if refusal is None:
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.msg = "refused (%s): %s"
        record.args = (type(refusal).__name__, " ".join(str(shown).split()))
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        # The logger let the record through as an ERROR; as INFO it must pass the level again.
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


_FILTER = RefusalsAtInfo()


def install() -> None:
    """Put the filter on sqladmin's loggers (once, however many apps are built)."""
    for name in LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
