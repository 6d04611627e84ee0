"""Register the lead's search attributes on a Temporal server: the docker compose `setup` service.

    python -m ops.register_search_attributes [--timeout SECONDS]

Connects as every Leadflow process does (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, and an API key or
client certificate when set), and retries until the server answers and the namespace exists (the
compose stack's `temporal-namespace` service creates it a little after the port opens). Idempotent.
On Temporal Cloud, create the attributes in the Cloud UI or with tcld instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from core.settings import get_settings
from core.temporal_client import connect
from ops.cli import exit_now
from workflows.search_attributes import ALL_KEYS, register


async def main(timeout: float) -> int:
    settings = get_settings()
    address, namespace = settings.temporal_address, settings.temporal_namespace
    deadline = time.monotonic() + timeout
    client = None
    while True:
        try:
            client = client or await connect(settings)  # one client: a second one crashed the exit
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
    exit_now(asyncio.run(main(parser.parse_args().timeout)))
