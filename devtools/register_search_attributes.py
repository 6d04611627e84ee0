"""Register the lead's search attributes on a Temporal server: the docker compose `setup` service.

    python -m devtools.register_search_attributes [--timeout SECONDS]

Reads TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, and retries until the server answers and the
namespace exists (auto-setup creates it a little after the port opens). Idempotent.
On Temporal Cloud, create the attributes in the Cloud UI or with tcld instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from temporalio.client import Client

from workflows.search_attributes import ALL_KEYS, register


async def main(timeout: float) -> int:
    address = os.environ.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233"
    namespace = os.environ.get("TEMPORAL_NAMESPACE") or "default"
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            await register(client, namespace)
            break
        except Exception as err:  # server or namespace not ready yet: try again until the deadline
            if time.monotonic() > deadline:
                print(f"error: could not register search attributes on {address}/{namespace}: {err}", file=sys.stderr)
                return 1
            print(f"waiting for Temporal at {address} (namespace {namespace}): {err}", flush=True)
            await asyncio.sleep(2)
    names = ", ".join(key.name for key in ALL_KEYS)
    print(f"search attributes registered on {address}/{namespace}: {names}", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=180, help="seconds to keep retrying (default 180)")
    sys.exit(asyncio.run(main(parser.parse_args().timeout)))
