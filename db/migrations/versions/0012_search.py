"""search: lead_lookup (a customer's name and the phone's last 4 digits), raw_lead.external_id index (issue 13)

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-06 02:30:00
"""
import re

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0012'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_lookup',
    sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', 'kind', 'value')
    )
    op.create_index('ix_lead_lookup_kind_value', 'lead_lookup', ['kind', 'value', 'lead_id'], unique=False,
                    postgresql_ops={'value': 'varchar_pattern_ops'})
    op.create_index('ix_raw_lead_external_id', 'raw_lead', ['external_id'], unique=False)
    # existing leads: their keys from the read model, as domain/search.py `lookup_keys` makes them (the
    # projection keeps them from now on); copied here so this migration stays what it was
    bind = op.get_bind()
    table = sa.table('lead_lookup', sa.column('lead_id'), sa.column('kind'), sa.column('value'))
    batch = []
    for lead_id, name, phone in bind.execute(sa.text("SELECT lead_id, customer_name, phone FROM lead")):
        key = " ".join((name or "").split()).casefold()[:128]
        digits = re.sub(r"\D", "", phone or "")
        batch += [{"lead_id": lead_id, "kind": "name", "value": key}] if key else []
        batch += [{"lead_id": lead_id, "kind": "phone4", "value": digits[-4:]}] if len(digits) >= 4 else []
        if len(batch) >= 5000:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index('ix_raw_lead_external_id', table_name='raw_lead')
    op.drop_index('ix_lead_lookup_kind_value', table_name='lead_lookup',
                  postgresql_ops={'value': 'varchar_pattern_ops'})
    op.drop_table('lead_lookup')
