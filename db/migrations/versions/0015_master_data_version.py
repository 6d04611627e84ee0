"""master_data_version: a change counter for the dealers, kept by triggers (issue 15)

Every insert, update and delete of `dealer`, by any writer, moves `master_data_version.version` of
`dealer` in the same transaction. The workers' cache of the dealers reads that one row per decision.

A later migration that rebuilds the `dealer` table on SQLite (batch_alter_table copies it into a new
table) drops these triggers with the old table: it must create them again (`create_triggers`);
tests/test_master_data_cache.py fails when they are missing at head.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:20:00
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BUMP = "UPDATE master_data_version SET version = version + 1 WHERE name = 'dealer'"
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE OR REPLACE FUNCTION leadflow_dealer_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN {BUMP}; RETURN NULL; END $$")
        op.execute("CREATE TRIGGER dealer_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dealer "
                   "FOR EACH STATEMENT EXECUTE FUNCTION leadflow_dealer_changed()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"CREATE TRIGGER dealer_changed_{event.lower()} AFTER {event} ON dealer BEGIN {BUMP}; END")


def upgrade() -> None:
    op.create_table('master_data_version',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.execute("INSERT INTO master_data_version (name, version) VALUES ('dealer', 0)")
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS dealer_changed ON dealer")
        op.execute("DROP FUNCTION IF EXISTS leadflow_dealer_changed()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS dealer_changed_{event.lower()}")
    op.drop_table('master_data_version')
