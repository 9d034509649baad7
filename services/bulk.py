"""Apply one operation to many records, each in its own transaction, and report per record.

A refusal of one order never undoes or blocks the others; the report says which succeeded and
which were refused and why (R-ORD-5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from services.actor import Actor, acting_as
from services.errors import Refused


@dataclass(frozen=True)
class Outcome:
    record_id: int
    label: str
    refusal: Refused | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


@dataclass
class BulkReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def apply_each(factory: sessionmaker[Session], actor: Actor, ids: Iterable[int],
               operation: Callable[[Session, int], object],
               describe: Callable[[Session, int], str]) -> BulkReport:
    report = BulkReport()
    with acting_as(actor):
        for record_id in ids:
            label = str(record_id)
            with factory() as session:
                try:
                    with session.begin():
                        label = describe(session, record_id)
                        operation(session, record_id)
                except Refused as refusal:
                    report.outcomes.append(Outcome(record_id, label, refusal))
                    continue
            report.outcomes.append(Outcome(record_id, label))
    return report
