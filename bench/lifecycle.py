"""Full lead lifecycles per second, as a ratio to a bare Temporal workflow on the same server.

    python -m bench.lifecycle [--leads 200] [--bare 1000] [--concurrency 32]

A lifecycle is driven the way people do it, through the HTTP API with each role's own token:
lead ops POSTs the raw lead; if it lands in cleansing the call center records it verified (and
fills in a missing city or series); the dealer's manager acknowledges and assigns (unless the
dealer auto-assigns), and the consultant logs a deep first call, invites, records the visit, the
test drive, the quote, the order, the win, the delivery and the revisit: the lead is completed and
its workflow closes (the benchmark waits for that). About 12 requests, each answered once the
workflow has settled it (read model written, notifications sent).

The bare workflow (bench.bare) runs one activity, one timer (`--bare-timer`, 0.1 s) and waits for
one signal; a client starts it, signals it and waits for its result, `--concurrency` at a time,
on its own worker process. Both run in the same run against the same server, one after the other
(bare first), each after a short warm-up.

ratio = lifecycles per second / bare workflows per second. As a lifecycle is some 60 billable actions
(bench.actions) and the bare workflow 4, the result also gives the ratio of actions per second
(`action_rate_ratio`): how fast the lead workflow gets through Temporal work compared with the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from bench.actions import history_actions
from bench.bare import run_one
from bench.stack import (
    PYTHON,
    Stack,
    add_database_args,
    cpu_delta,
    log,
    machine,
    percentiles,
    raw_leads,
    record,
    run_pool,
)

# the consultant's actions from first contact to the revisit, with their bodies
FOLLOW_THROUGH: list[tuple[str, dict[str, Any]]] = [
    ("log-follow-up", {"channel": "call", "duration_minutes": 6, "needs_captured": True, "note": "needs captured"}),
    ("invite", {"note": "Saturday 10:00"}),
    ("record-visit", {}),
    ("record-test-drive", {}),
    ("record-quote", {"amount": 218000}),
    ("record-order", {"deposit": 5000}),
    ("record-win", {"payment": "loan", "amount": 218000}),
    ("record-delivery", {"vin": "LBV00000000000001"}),
    ("log-revisit", {"note": "happy with the car"}),
]


class Refused(Exception):
    pass


class Driver:
    """Drives leads through the API as the people of the demo network (tokens from the seed)."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient):
        self.stack, self.http = stack, http
        self.requests = 0

    async def call(self, user: str, path: str, body: dict) -> dict:
        self.requests += 1
        response = await self.http.post(path, json=body, headers={"Authorization": f"Bearer {self.stack.token(user)}"})
        if response.status_code != 200:
            raise Refused(f"{path} as {user}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    async def lifecycle(self, raw) -> dict:
        """One raw lead from intake to completed (or closed invalid when no dealer can take it)."""
        started = time.time()
        answer = await self.call("ops-wang", "/v1/leads", raw.model_dump(mode="json", exclude_none=True))
        lead, stage, dealer = answer["lead_id"], answer["stage"], answer.get("dealer_id")
        if stage == "cleansing":
            fix = {k: v for k, v in (("city", "Shanghai" if not raw.city else None),
                                     ("series", "A5" if not raw.series else None)) if v}
            answer = await self.call("cc-zhou", f"/v1/leads/{lead}/record-cleansing",
                                     {"outcome": "verified", "corrections": fix, "note": "called the customer"})
            stage, dealer = answer["stage"], answer.get("dealer_id")
        if stage != "dispatched" or dealer is None:
            await self.call("cc-zhou", f"/v1/leads/{lead}/record-cleansing",
                            {"outcome": "invalid", "note": "no dealer"})
            return {"lead_id": lead, "end": "closed_invalid", "seconds": time.time() - started}
        manager = f"{dealer.lower()}-manager"
        answer = await self.call(manager, f"/v1/leads/{lead}/acknowledge", {})
        consultant = answer.get("consultant_id")
        if not consultant:
            consultant = f"{dealer.lower()}-c1"  # sells every series of the dealer
            await self.call(manager, f"/v1/leads/{lead}/assign", {"consultant_id": consultant})
        for action, body in FOLLOW_THROUGH:
            answer = await self.call(consultant, f"/v1/leads/{lead}/{action}", body)
        from workflows.gateway import handle

        outcome = await handle(self.stack.client, lead).result()  # the workflow has closed
        return {"lead_id": lead, "end": outcome.stage.value, "seconds": time.time() - started}


async def timed(items: list, fn, concurrency: int, label: str, stack: Stack) -> tuple[list, float, dict]:
    c0 = stack.cpu()
    t0 = time.time()
    out = await run_pool(items, fn, concurrency, label)
    return out, time.time() - t0, cpu_delta(c0, stack.cpu())


async def main_async(args) -> dict:
    info = machine()
    stack = Stack("lifecycle", api=True, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                  workers=args.workers,
                  extra_workers=[("bare_worker", [PYTHON, "-m", "bench.bare"])])
    async with stack:
        await stack.wait_for_log("bare_worker", "bare worker started")
        leads = raw_leads(args.warmup + args.leads)
        stack.raise_dealer_capacity(len(leads))

        # the bare workflow
        timer = args.bare_timer
        await run_pool([f"bare-warmup-{i}" for i in range(20)], lambda wid: run_one(stack.client, wid, timer), 8)
        bare_ids = [f"bare-{i}" for i in range(args.bare)]
        log(f"bare: {args.bare} workflows, {args.concurrency} at a time")
        _, bare_s, bare_cpu = await timed(bare_ids, lambda wid: run_one(stack.client, wid, timer),
                                          args.concurrency, "bare", stack)
        bare_rate = args.bare / bare_s

        # lead lifecycles through the API
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=300, limits=limits) as http:
            driver = Driver(stack, http)
            await run_pool(leads[:args.warmup], driver.lifecycle, 4)
            driver.requests = 0
            log(f"lifecycles: {args.leads} leads, {args.concurrency} at a time")
            lives, life_s, life_cpu = await timed(leads[args.warmup:], driver.lifecycle, args.concurrency,
                                                  "lifecycles", stack)
        sample = [x["lead_id"] for x in lives if x["end"] == "completed"][:10]
        life_actions = [(await history_actions(stack.client, wid))["total"] for wid in sample]
        bare_actions = [(await history_actions(stack.client, wid))["total"] for wid in bare_ids[:10]]
        ends = Counter(x["end"] for x in lives)
        completed = ends.get("completed", 0)
        life_rate = completed / life_s
        result = {
            "read_model": "postgresql" if stack.postgres else "sqlite", "workers": args.workers,
            "concurrency": args.concurrency,
            "bare": {"workflows": args.bare, "timer_s": timer, "seconds": round(bare_s, 1),
                     "per_s": round(bare_rate, 2), "cpu_s_per_workflow": {k: round(v / args.bare, 4)
                                                                          for k, v in bare_cpu.items()}},
            "lifecycle": {"leads": args.leads, "ends": dict(ends), "seconds": round(life_s, 1),
                          "completed_per_s": round(life_rate, 3),
                          "api_requests_per_lifecycle": round(driver.requests / max(len(lives), 1), 1),
                          "lifecycle_latency_s": percentiles(x["seconds"] for x in lives if x["end"] == "completed"),
                          "cpu_s_per_lifecycle": {k: round(v / max(len(lives), 1), 4) for k, v in life_cpu.items()}},
            "ratio": round(life_rate / bare_rate, 4),
            # the same comparison per Temporal action (bench.actions counts them from the histories)
            "actions_per_lifecycle": round(sum(life_actions) / len(life_actions), 1) if life_actions else None,
            "actions_per_bare": round(sum(bare_actions) / len(bare_actions), 1) if bare_actions else None,
            "action_rate_ratio": round((life_rate * sum(life_actions) / len(life_actions))
                                       / (bare_rate * sum(bare_actions) / len(bare_actions)), 3)
            if life_actions and bare_actions else None,
            "memory_mib": stack.memory(),
        }
    return record("lifecycle", result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200, help="lead lifecycles measured (default 200)")
    parser.add_argument("--bare", type=int, default=1000, help="bare workflows measured (default 1000)")
    parser.add_argument("--bare-timer", type=float, default=0.1, help="the bare workflow's timer, seconds (0.1)")
    parser.add_argument("--concurrency", type=int, default=32, help="lifecycles / bare workflows in flight (32)")
    parser.add_argument("--warmup", type=int, default=5, help="lifecycles run first, not measured (default 5)")
    add_database_args(parser)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
