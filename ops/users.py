"""Create a user and print their bearer token (only its hash is stored); set a user's password.

    python -m ops.users create --id ops-wang --name "Wang Fang" --role lead_ops
    python -m ops.users create --id sh1-li --name "Li Lei" --role consultant --dealer D-SH-01 --series A5,A7
    python -m ops.users password --id ops-wang        (asks for it; the first lead ops' sign-in, then invite the rest)
"""

from __future__ import annotations

import argparse

from sqlmodel import Session

from core.security import hash_token, new_token
from db.engine import default_engine
from db.models import Consultant, Dealer, User
from domain.stages import DEALER_ROLES, Role


def issue_token(session: Session, user: User) -> str:
    token = new_token()
    user.token_hash = hash_token(token)
    session.add(user)
    return token


class UserError(ValueError):
    pass


def create_user(session: Session, user_id: str, name: str, role: Role, dealer_id: str | None = None,
                region: str | None = None, series: list[str] | None = None) -> str:
    """Create the user (a consultant also gets their consultant row) and return a new token."""
    if role in DEALER_ROLES and (dealer_id is None or session.get(Dealer, dealer_id) is None):
        raise UserError(f"a {role.value} needs a dealer: name an existing dealer")
    user = session.get(User, user_id) or User(id=user_id, name=name, role=role.value)
    user.name, user.role, user.dealer_id, user.region, user.active = name, role.value, dealer_id, region, True
    token = issue_token(session, user)
    session.flush()
    if role == Role.CONSULTANT and dealer_id is not None:  # (a dealer role has one: checked above)
        consultant = session.get(Consultant, user_id) or Consultant(user_id=user_id, dealer_id=dealer_id)
        consultant.dealer_id = dealer_id
        if series is not None:
            consultant.series = series
        session.add(consultant)
    session.commit()
    return token


def set_password(session: Session, user_id: str, password: str) -> None:
    from datetime import UTC, datetime

    from core.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
    from db.models import UserLogin

    if session.get(User, user_id) is None:
        raise UserError(f"no user {user_id}")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise UserError(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    row = session.get(UserLogin, user_id) or UserLogin(user_id=user_id)
    row.password_hash, row.password_changed_at = hash_password(password), datetime.now(UTC)
    session.add(row)
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.users")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create (or re-issue the token of) a user")
    create.add_argument("--id", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.SYSTEM])
    create.add_argument("--dealer")
    create.add_argument("--region")
    create.add_argument("--series", help="a consultant's series, comma-separated (default: all)")
    password = sub.add_parser("password", help="set a user's password (asked for, never on the command line)")
    password.add_argument("--id", required=True)
    args = parser.parse_args()
    if args.command == "password":
        import getpass

        with Session(default_engine()) as session:
            try:
                set_password(session, args.id, getpass.getpass(f"password for {args.id}: "))
            except UserError as err:
                raise SystemExit(str(err)) from None
        print(f"{args.id}\tpassword set")
        return
    series = [s.strip() for s in args.series.split(",") if s.strip()] if args.series else None
    with Session(default_engine()) as session:
        try:
            token = create_user(session, args.id, args.name, Role(args.role), args.dealer, args.region, series)
        except UserError as err:
            raise SystemExit(str(err)) from None
    print(f"{args.id}\t{args.role}\t{token}")


if __name__ == "__main__":
    main()
