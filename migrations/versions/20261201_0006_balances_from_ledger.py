"""balances from the ledger

A merchant's balance was an editable field until the ledger service became its only writer;
an installation may have drifted. Set every balance to the sum of the merchant's ledger
entries, which is what it is from now on (services.ledger). No schema change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:40:00

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute(
        "UPDATE merchants SET balance = COALESCE((SELECT SUM(e.amount) FROM ledger_entries e "
        "WHERE e.merchant_id = merchants.id), 0)"
    )


def downgrade() -> None:
    """Nothing to undo: the balances were only made consistent."""
