"""policy versions, their audit, and the leads' recorded facts (issue 16)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:40:00
"""
import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_version',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('diff', sa.JSON(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('effective_from', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_index(op.f('ix_policy_version_status'), 'policy_version', ['status'], unique=False)
    op.create_table('policy_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_policy_audit_version'), 'policy_audit', ['version'], unique=False)
    op.create_index(op.f('ix_policy_audit_at'), 'policy_audit', ['at'], unique=False)
    op.create_table('lead_fact',
    sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', 'seq')
    )
    op.create_index(op.f('ix_lead_fact_at'), 'lead_fact', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_lead_fact_at'), table_name='lead_fact')
    op.drop_table('lead_fact')
    op.drop_index(op.f('ix_policy_audit_at'), table_name='policy_audit')
    op.drop_index(op.f('ix_policy_audit_version'), table_name='policy_audit')
    op.drop_table('policy_audit')
    op.drop_index(op.f('ix_policy_version_status'), table_name='policy_version')
    op.drop_table('policy_version')
