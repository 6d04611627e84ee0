"""Create a user and print their bearer token (only its hash is stored).

    python -m devtools.users create --id ops-wang --name "Wang Fang" --role lead_ops
    python -m devtools.users create --id sh1-li --name "Li Lei" --role consultant --dealer D-SH-01
"""

from __future__ import annotations

import argparse
import secrets

from sqlmodel import Session

from api.deps import hash_token
from db.engine import default_engine
from db.models import Dealer, User
from domain.stages import DEALER_ROLES, Role


def issue_token(session: Session, user: User) -> str:
    token = "lf_" + secrets.token_urlsafe(24)
    user.token_hash = hash_token(token)
    session.add(user)
    return token


def create_user(session: Session, user_id: str, name: str, role: Role, dealer_id: str | None = None,
                region: str | None = None) -> str:
    if role in DEALER_ROLES and (dealer_id is None or session.get(Dealer, dealer_id) is None):
        raise SystemExit(f"a {role.value} needs --dealer naming an existing dealer")
    user = session.get(User, user_id) or User(id=user_id, name=name, role=role.value)
    user.name, user.role, user.dealer_id, user.region, user.active = name, role.value, dealer_id, region, True
    token = issue_token(session, user)
    session.commit()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.users")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create (or re-issue the token of) a user")
    create.add_argument("--id", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.SYSTEM])
    create.add_argument("--dealer")
    create.add_argument("--region")
    args = parser.parse_args()
    with Session(default_engine()) as session:
        token = create_user(session, args.id, args.name, Role(args.role), args.dealer, args.region)
    print(f"{args.id}\t{args.role}\t{token}")


if __name__ == "__main__":
    main()
