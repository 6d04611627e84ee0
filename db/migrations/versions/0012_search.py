"""search: lead_lookup (a customer's name and the phone's last 4 digits), raw_lead.external_id index (issue 13)

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-06 02:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes


revision = '0012'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_lookup',
    sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', 'kind', 'value')
    )
    op.create_index('ix_lead_lookup_kind_value', 'lead_lookup', ['kind', 'value'], unique=False,
                    postgresql_ops={'value': 'varchar_pattern_ops'})
    op.create_index('ix_raw_lead_external_id', 'raw_lead', ['external_id'], unique=False)
    # existing leads: their keys from the read model (the projection keeps them from now on)
    last4 = "right(phone, 4)" if op.get_bind().dialect.name == "postgresql" else "substr(phone, -4)"
    op.execute("INSERT INTO lead_lookup (lead_id, kind, value) "
               "SELECT lead_id, 'name', substr(lower(trim(customer_name)), 1, 128) FROM lead WHERE trim(customer_name) <> ''")
    op.execute(f"INSERT INTO lead_lookup (lead_id, kind, value) SELECT lead_id, 'phone4', {last4} FROM lead "
               "WHERE length(phone) >= 4")


def downgrade() -> None:
    op.drop_index('ix_raw_lead_external_id', table_name='raw_lead')
    op.drop_index('ix_lead_lookup_kind_value', table_name='lead_lookup', postgresql_ops={'value': 'varchar_pattern_ops'})
    op.drop_table('lead_lookup')
