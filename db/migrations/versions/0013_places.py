"""places by code: the read model's cities become their GB/T 2260 division's Chinese name

Revision ID: 0013
Revises: 0006
Create Date: 2026-12-06 02:45:00

Rows written before intake resolved places (issue 13) carry the city as it was typed ("Shanghai", "上海"); the
projection now writes the division's name (上海市), and so does this migration for the rows already there: lead,
customer, dealer (and its service cities). A text that names no known place, or several, is left as it is.
Downgrade leaves the names (both spellings are the same city to dispatch and filters).
"""
import json

import sqlalchemy as sa
from alembic import op

from domain.places import display_city

revision = '0013'
down_revision = '0006'
branch_labels = None
depends_on = None


def _rename(conn, table: str, key: str) -> None:
    rows = conn.execute(sa.text(f"SELECT {key}, city FROM {table} WHERE city IS NOT NULL")).all()
    for row_key, city in rows:
        if (name := display_city(city)) != city:
            conn.execute(sa.text(f"UPDATE {table} SET city = :name WHERE {key} = :key"), {"name": name, "key": row_key})


def upgrade() -> None:
    conn = op.get_bind()
    _rename(conn, "lead", "lead_id")
    _rename(conn, "customer", "customer_key")
    _rename(conn, "dealer", "id")
    for dealer_id, served in conn.execute(sa.text("SELECT id, service_cities FROM dealer")).all():
        cities = served if isinstance(served, list) else json.loads(served or "[]")
        renamed = list(dict.fromkeys(display_city(c) for c in cities))
        if renamed != cities:
            value = "CAST(:s AS json)" if conn.dialect.name == "postgresql" else ":s"
            conn.execute(sa.text(f"UPDATE dealer SET service_cities = {value} WHERE id = :id"),
                         {"s": json.dumps(renamed, ensure_ascii=False), "id": dealer_id})


def downgrade() -> None:
    pass
