"""discount starts_at, workflow states' edit flags

A discount may be scheduled: ``discounts.starts_at`` (empty = in force at once). Existing
discounts keep applying as before.

What an order's page may still edit is read from its states, no longer from status codes in
code: ``workflow_states.items_editable`` (the items and methods may change) and
``workflow_states.recipient_editable`` (the recipient may be corrected). The states of every
workflow of ``orders.status`` and ``orders.shipping_status`` get the values the codes gave them
before, so an upgraded database behaves as before: items editable in the order statuses before
"shipped" and the shipping statuses before anything was loaded; the recipient closed once the
order is delivered or returned, or delivered to the customer. Every other state: items closed,
recipient open (the columns' defaults).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The codes services/order_edits.py held until this revision, per governed column.
ITEMS_EDITABLE = {
    'status': ('awaiting_confirmation', 'not_confirmed', 'confirmed', 'preparing', 'reserved',
               'invoice_defect'),
    'shipping_status': ('not_loaded', 'no_shipping_needed'),
}
RECIPIENT_CLOSED = {
    'status': ('delivered', 'returned'),
    'shipping_status': ('delivered_to_customer',),
}


def upgrade() -> None:
    with op.batch_alter_table('discounts') as batch:
        batch.add_column(sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('workflow_states') as batch:
        batch.add_column(sa.Column('items_editable', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('recipient_editable', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))

    states = sa.table('workflow_states', sa.column('workflow_id', sa.Integer()),
                      sa.column('code', sa.String()),
                      sa.column('items_editable', sa.Boolean()),
                      sa.column('recipient_editable', sa.Boolean()))
    workflows = sa.table('workflows', sa.column('id', sa.Integer()),
                         sa.column('entity', sa.String()), sa.column('field', sa.String()))

    def of(field: str) -> sa.Select:
        return sa.select(workflows.c.id).where(workflows.c.entity == 'orders',
                                               workflows.c.field == field)

    for field, codes in ITEMS_EDITABLE.items():
        op.execute(states.update().where(states.c.workflow_id.in_(of(field)),
                                         states.c.code.in_(codes))
                   .values(items_editable=True))
    for field, codes in RECIPIENT_CLOSED.items():
        op.execute(states.update().where(states.c.workflow_id.in_(of(field)),
                                         states.c.code.in_(codes))
                   .values(recipient_editable=False))


def downgrade() -> None:
    with op.batch_alter_table('workflow_states') as batch:
        batch.drop_column('recipient_editable')
        batch.drop_column('items_editable')
    with op.batch_alter_table('discounts') as batch:
        batch.drop_column('starts_at')
