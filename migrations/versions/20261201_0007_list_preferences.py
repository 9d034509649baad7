"""list preferences

A person's chosen list columns and saved filters, one row per user and list view
(schema/preferences.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('list_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('view', sa.String(length=64), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=True),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True),
              server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_list_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_preferences')),
    sa.UniqueConstraint('user_id', 'view', name=op.f('uq_list_preferences_user_id_view'))
    )
    op.create_index(op.f('ix_list_preferences_user_id'), 'list_preferences', ['user_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_list_preferences_user_id'), table_name='list_preferences')
    op.drop_table('list_preferences')
