"""policy_simulation: what-if runs kept in the read model, not in one API process's memory (issue 16)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-06 17:20:00
"""
import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_simulation',
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('period_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('period_end', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_policy_simulation_started_at'), 'policy_simulation', ['started_at'], unique=False)
    op.create_index(op.f('ix_policy_simulation_version'), 'policy_simulation', ['version'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_policy_simulation_version'), table_name='policy_simulation')
    op.drop_index(op.f('ix_policy_simulation_started_at'), table_name='policy_simulation')
    op.drop_table('policy_simulation')
