"""Demo master data: one brand, its dealer network (devtools.network), their people, the OEM's people.

    python -m devtools.seed        (idempotent; prints the demo users' tokens)

Tokens are written once to data/demo-tokens.json (they are not recoverable from the database).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlmodel import Session, select

from db.engine import default_engine
from db.models import Consultant, Dealer, User
from devtools.network import generate_dealers
from ops.users import issue_token
from domain.stages import Role

BRAND = "Aurora"
DEMO_BRAND, DEMO_SERIES = BRAND, ["A5", "A7", "E3"]
DEMO_CITIES = ["Shanghai", "Hangzhou", "Beijing", "Guangzhou", "Shenzhen", "Chengdu", "Suzhou"]
TOKENS_FILE = Path(os.environ.get("LEADFLOW_DEMO_TOKENS", "data/demo-tokens.json"))
NETWORK_DEALERS, NETWORK_SEED = 220, 7


def demo_dealers() -> list[Dealer]:
    """The demo network, fresh rows on every call (220 dealers in 62 cities; D-SH-01, D-BJ-01 ...)."""
    return generate_dealers(NETWORK_DEALERS, NETWORK_SEED, BRAND)


DEALERS = demo_dealers()

OEM_USERS = [
    ("ops-wang", "王芳 (lead ops)", Role.LEAD_OPS, None),
    ("ops-head-zhao", "赵强 (head of lead ops)", Role.HEAD_OF_LEAD_OPS, None),
    ("review-chen", "陈静 (defeat review)", Role.REVIEW_TEAM, None),
    ("review-liu", "刘洋 (defeat review)", Role.REVIEW_TEAM, None),
    ("review-lead-sun", "孙丽 (review team lead)", Role.REVIEW_TEAM_LEAD, None),
    ("cc-zhou", "周敏 (call center)", Role.CALL_CENTER, None),
    ("rm-east", "吴涛 (regional manager East)", Role.REGIONAL_MANAGER, "East"),
    ("rm-north", "郑浩 (regional manager North)", Role.REGIONAL_MANAGER, "North"),
    ("rm-south", "冯雪 (regional manager South)", Role.REGIONAL_MANAGER, "South"),
    ("rm-west", "何军 (regional manager West)", Role.REGIONAL_MANAGER, "West"),
    ("rm-central", "钱磊 (regional manager Central)", Role.REGIONAL_MANAGER, "Central"),
    ("rm-northeast", "韩梅 (regional manager Northeast)", Role.REGIONAL_MANAGER, "Northeast"),
]


def demo_users() -> list[User]:
    users = [User(id=i, name=n, role=r.value, region=reg) for i, n, r, reg in OEM_USERS]
    for d in DEALERS:
        slug = d.id.lower()
        users += [
            User(id=f"{slug}-manager", name=f"{d.name} 网销经理", role=Role.DEALER_MANAGER.value, dealer_id=d.id),
            User(id=f"{slug}-opslead", name=f"{d.name} 运营负责人", role=Role.DEALER_OPS_LEAD.value, dealer_id=d.id),
            User(id=f"{slug}-c1", name=f"{d.name} 销售顾问 1", role=Role.CONSULTANT.value, dealer_id=d.id),
            User(id=f"{slug}-c2", name=f"{d.name} 销售顾问 2", role=Role.CONSULTANT.value, dealer_id=d.id),
        ]
    return users


def demo_consultants() -> list[Consultant]:
    """Consultant 1 sells the dealer's every series, consultant 2 its first one."""
    rows = []
    for d in DEALERS:
        slug = d.id.lower()
        rows += [Consultant(user_id=f"{slug}-c1", dealer_id=d.id, series=list(d.series)),
                 Consultant(user_id=f"{slug}-c2", dealer_id=d.id, series=list(d.series[:1]))]
    return rows


_DEALER_FIELDS = [f for f in Dealer.model_fields if f != "id"]
_USER_FIELDS = ["name", "role", "dealer_id", "region"]
# capacity and duty are the dealer manager's to change  # never the token or the active flag
_CONSULTANT_FIELDS = ["dealer_id", "series"]


def _update(row, wanted, fields: list[str]) -> None:
    for field in fields:  # set only what differs, so a second seed writes nothing
        if getattr(row, field) != getattr(wanted, field):
            setattr(row, field, getattr(wanted, field))


def seed(session: Session) -> dict[str, str]:
    """Load the demo data; returns tokens for users who did not have one yet.

    One query per table for what exists, then bulk adds and in-place updates in one session.
    """
    dealers = {d.id: d for d in session.exec(select(Dealer)).all()}
    for dealer in demo_dealers():
        if dealer.id in dealers:
            _update(dealers[dealer.id], dealer, _DEALER_FIELDS)
        else:
            session.add(dealer)
    session.commit()
    users = {u.id: u for u in session.exec(select(User)).all()}
    tokens = {}
    for user in demo_users():
        existing = users.get(user.id)
        if existing is not None:
            _update(existing, user, _USER_FIELDS)
            user = existing
        else:
            session.add(user)
        if user.token_hash is None:
            tokens[user.id] = issue_token(session, user)
    session.commit()
    consultants = {c.user_id: c for c in session.exec(select(Consultant)).all()}
    for consultant in demo_consultants():
        if consultant.user_id in consultants:
            _update(consultants[consultant.user_id], consultant, _CONSULTANT_FIELDS)
        else:
            session.add(consultant)
    session.commit()
    return tokens


def main() -> None:
    with Session(default_engine()) as session:
        tokens = seed(session)
    known = json.loads(TOKENS_FILE.read_text()) if TOKENS_FILE.exists() else {}
    known.update(tokens)
    TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOKENS_FILE.write_text(json.dumps(known, indent=2, ensure_ascii=False))
    TOKENS_FILE.chmod(0o600)
    print(f"demo data loaded: {len(DEALERS)} dealers of {BRAND}; tokens in {TOKENS_FILE}")
    roles = {u.id: u.role for u in demo_users()}
    for user_id in ("ops-wang", "cc-zhou", "review-chen", "review-liu", "rm-east", "d-sh-01-manager", "d-sh-01-c1"):
        if user_id in known:
            print(f"  {user_id:<18} {roles[user_id]:<18} Bearer {known[user_id]}")


if __name__ == "__main__":
    main()
