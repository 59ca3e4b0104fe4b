"""calls keep their territory

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00

A call belongs to the territory it was made in, so a rep's later transfer leaves it with the
old territory's manager. Existing calls take their owner's territory at the time of migration.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('territory_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_territory_id'), ['territory_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_calls_territory_id_territories'), 'territories', ['territory_id'], ['id']
        )
    op.execute(
        "UPDATE calls SET territory_id = (SELECT users.territory_id FROM users WHERE users.id = calls.owner_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calls_territory_id_territories'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_calls_territory_id'))
        batch_op.drop_column('territory_id')
