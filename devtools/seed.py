"""Demo master data: one brand, its dealer network (devtools.network), their people, the OEM's people.

    python -m devtools.seed        (idempotent; prints the demo sign-ins: a manager, a consultant, an OEM user)

Passwords (a few demo sign-ins) are written once to data/demo-sign-ins.json, the users' bearer tokens (for
scripts, as the run command's demo leads) to data/demo-tokens.json: neither is recoverable from the database.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from sqlmodel import Session, select

from core.passwords import hash_password
from db.engine import default_engine
from db.models import Consultant, Dealer, User, UserLogin
from devtools.network import generate_dealers
from domain.stages import Role
from ops.users import issue_token

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


DEMO_SIGN_INS = ("ops-wang", "d-sh-01-manager", "d-sh-01-c1", "cc-zhou", "review-chen",
                 "rm-east")  # printed: the first three
SIGN_INS_FILE = Path(os.environ.get("LEADFLOW_DEMO_SIGN_INS", "data/demo-sign-ins.json"))


def demo_passwords(session: Session) -> dict[str, str]:
    """A random password for each demo sign-in user who has none yet (argon2 is slow on purpose: these few
    only; everyone else is invited from the portal or signs in with the company account)."""
    passwords = {}
    for user_id in DEMO_SIGN_INS:
        if session.get(User, user_id) is None:
            continue
        row = session.get(UserLogin, user_id) or UserLogin(user_id=user_id)
        if row.password_hash is None:
            passwords[user_id] = secrets.token_urlsafe(9)
            row.password_hash = hash_password(passwords[user_id])
            session.add(row)
    session.commit()
    return passwords


def _keep(path: Path, new: dict[str, str]) -> dict[str, str]:
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2, ensure_ascii=False))
    path.chmod(0o600)
    return known


def main() -> None:
    with Session(default_engine()) as session:
        tokens = seed(session)
        passwords = demo_passwords(session)
    signins = _keep(SIGN_INS_FILE, passwords)
    _keep(TOKENS_FILE, tokens)
    print(f"demo data loaded: {len(DEALERS)} dealers of {BRAND}; sign-ins in {SIGN_INS_FILE}, "
          f"machines' bearer tokens in {TOKENS_FILE}")
    roles = {u.id: u.role for u in demo_users()}
    print("demo sign-ins (user / password) at http://127.0.0.1:8000/:")
    for user_id in DEMO_SIGN_INS[:3]:
        if user_id in signins:
            print(f"  {user_id:<18} {roles[user_id]:<18} {signins[user_id]}")


if __name__ == "__main__":
    main()
