"""Push latency (issue 14): from the alert to the push request leaving the process, at a steady rate spread over
many group robots.

    python -m bench.push [--rate 10] [--seconds 60] [--robots 100] [--database-url postgres|sqlite|URL]

A local stack (bench/stack.py: Temporal dev server, the worker, the seeded demo network), one WeCom robot per
dealer for `--robots` dealers, pointing at a receiver in this process that stamps each request's arrival. The
bench then raises `--rate` alerts a second for `--seconds`, each to the next dealer's manager, the way a lead
does: the `notify` activity's body (inbox rows, then the notice's PushWorkflow started on the worker's task
queue). Latency = the request's arrival at the receiver - the moment before `notify` was called; the goal is a
p99 under 1 s at 10 alerts/s. Each robot gets one alert every robots/rate seconds (10 s by default), under its
20-a-minute limit, so no alert waits for the limiter (bench/README.md has the limiter's own test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.fernet import Fernet

from bench.stack import TASK_QUEUE, Stack, add_database_args, log, machine, percentiles, record

os.environ.setdefault("LEADFLOW_CHANNEL_KEYS", Fernet.generate_key().decode())  # the worker inherits it


class Arrivals:
    def __init__(self):
        self.at: dict[str, float] = {}
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                now = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                content = body.get("markdown", body.get("text", {})).get("content", "")
                for word in content.split():
                    if word.startswith("bench"):
                        arrivals.at.setdefault(word, now)
                raw = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--robots", type=int, default=100)
    add_database_args(parser)
    args = parser.parse_args()
    receiver = Arrivals()
    async with Stack("push", api=False, database_url=args.database_url, keep=args.keep,
                     log_level=args.log_level, workers=args.workers) as stack:
        from sqlmodel import Session, select

        from activities.notify import NotifyActivities
        from channels.delivery import PushStarter
        from channels.secrets import seal
        from db.models import Dealer, PushTarget
        from domain.models import NotifyRequest
        from domain.stages import Role

        with Session(stack.engine) as session:
            dealers = list(session.exec(select(Dealer.id).order_by(Dealer.id)).all())[: args.robots]
            for d in dealers:
                session.add(PushTarget(id=f"bench-{d}"[:40], kind="wecom", name=f"robot {d}", scope="dealer",
                                       dealer_id=d,
                                       secret=seal({"webhook_url": f"{receiver.url}/send?key={d}"}), created_by="bench",
                                       created_at=datetime.now(UTC)))
            session.commit()
        log(f"{len(dealers)} robots; {args.rate}/s for {args.seconds}s")
        notify = NotifyActivities(stack.engine, PushStarter(stack.client, TASK_QUEUE, asyncio.get_running_loop()))
        raised: dict[str, float] = {}
        total = int(args.rate * args.seconds)
        begin = time.monotonic()

        async def alert(i: int) -> None:
            key = f"bench{i:05d}"
            req = NotifyRequest(lead_id=f"lead-{key}", event_seq=1, kind="lead_dispatched", message="dispatched",
                                roles=[Role.DEALER_MANAGER], dealer_id=dealers[i % len(dealers)],
                                at=datetime.now(UTC))
            raised[key] = time.time()
            await asyncio.to_thread(notify.notify, req)

        tasks = []
        for i in range(total):
            await asyncio.sleep(max(0.0, begin + i / args.rate - time.monotonic()))
            tasks.append(asyncio.create_task(alert(i)))
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 30
        while len(receiver.at) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        latencies = [receiver.at[k] - raised[k] for k in raised if k in receiver.at]
        result = {"rate": args.rate, "seconds": args.seconds, "robots": len(dealers), "alerts": total,
                  "arrived": len(latencies), "latency_s": percentiles(latencies), "database": stack.url.split(":")[0]}
        log(json.dumps(result))
        record("push", result, machine())
    receiver.server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
