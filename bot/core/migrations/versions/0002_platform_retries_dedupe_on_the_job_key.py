"""platform retries dedupe on the job key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:26:48.204403
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('processed_events')


def downgrade() -> None:
    op.create_table('processed_events',
    sa.Column('id', sa.INTEGER(), nullable=False),
    sa.Column('platform', sa.VARCHAR(length=20), nullable=False),
    sa.Column('event_id', sa.VARCHAR(length=200), nullable=False),
    sa.Column('received_at', sa.DATETIME(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_processed_events')),
    sa.UniqueConstraint('platform', 'event_id', name=op.f('uq_processed_events_platform_event_id'))
    )
