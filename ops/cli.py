"""Helpers for Leadflow's one-shot command-line tools."""

from __future__ import annotations

import os
import sys


def exit_now(code: int) -> None:
    """Exit a command that used a Temporal client, skipping the interpreter's teardown.

    The SDK's Rust threads can outlive the event loop and abort the process while CPython
    finalizes ("PyGILState_Release: thread state ... must be current", temporalio/sdk-python#300),
    turning a finished command's exit code into -6 or -11. Everything worth keeping is flushed first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
