"""Send a policy's `[owner_care]` table to the running owner-care workflows (issue 17).

    python -m ops.owner_care push-policy [--policy path/to/policy.toml] [--dealer D-SH-1] [--dry-run]

A running ownership carries the owner-care table it was started (or last told) with; a new policy version reaches
it only through the `policy_changed` signal. This command signals every active ownership of the read model (or
one dealer's) with the table of the policy file (LEADFLOW_POLICY or the bundled one) and its version; each then
reschedules itself at once. Idempotent: sending the same version again changes nothing that matters.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from db.models import Ownership
from domain.policy import Policy, load_policy
from workflows.owner_care import PolicyChange

BATCH = 50


async def push_policy(client: Client, engine, policy: Policy, dealer_id: str | None = None,
                      dry_run: bool = False) -> dict[str, int]:
    with Session(engine) as session:
        query = select(Ownership.ownership_id).where(Ownership.status == "active")
        if dealer_id:
            query = query.where(Ownership.dealer_id == dealer_id)
        ids = list(session.exec(query.order_by(Ownership.ownership_id)).all())
    change = PolicyChange(policy=policy.owner_care, version=policy.version)
    sent = gone = 0

    async def one(oid: str) -> bool:
        try:
            await client.get_workflow_handle(oid).signal("policy_changed", change)
            return True
        except RPCError:  # stopped or ended meanwhile
            return False

    for i in range(0, len(ids), BATCH):
        if dry_run:
            continue
        done = await asyncio.gather(*(one(oid) for oid in ids[i:i + BATCH]))
        sent += sum(done)
        gone += len(done) - sum(done)
    return {"active": len(ids), "signalled": sent, "not_running": gone}


async def _main(args) -> int:
    from core.settings import get_settings
    from core.temporal_client import connect
    from db.engine import make_engine

    settings = get_settings()
    client = await connect(settings)
    result = await push_policy(client, make_engine(settings.database_url), load_policy(args.policy),
                               args.dealer, args.dry_run)
    print(result)
    return 0


def main(argv: list[str] | None = None) -> None:
    from ops.cli import exit_now

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["push-policy"])
    parser.add_argument("--policy", default=None, help="the policy file (default: LEADFLOW_POLICY or the bundled one)")
    parser.add_argument("--dealer", default=None, help="only this dealer's ownerships")
    parser.add_argument("--dry-run", action="store_true", help="count, send nothing")
    exit_now(asyncio.run(_main(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
