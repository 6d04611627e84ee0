"""structlog: one JSON line per event, with the lead, workflow and run ids wherever there are some.

Workflow code logs through `workflow.logger` (the SDK drops those lines while replaying, so a
replay never logs twice) and activities through `activity.logger`; both are stdlib loggers
whose records carry the SDK's `temporal_workflow` / `temporal_activity` context, which
`lift_temporal_ids` turns into `lead_id`, `workflow_id` and `run_id` fields.

Phone numbers are masked in every line, whatever field (or message) carries them (`mask_phones`).
"""

from __future__ import annotations

import logging
import re
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from domain.customers import mask_phone

_TEMPORAL_KEYS = ("temporal_workflow", "temporal_activity")


def lift_temporal_ids(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    for key in _TEMPORAL_KEYS:
        info = getattr(record, key, None) if record is not None else event.get(key)
        if isinstance(info, dict):
            event.setdefault("workflow_id", info.get("workflow_id"))
            event.setdefault("run_id", info.get("run_id") or info.get("workflow_run_id"))
            if key == "temporal_activity":
                event.setdefault("activity", info.get("activity_type"))
    if str(event.get("workflow_id", "")).startswith("lead-"):
        event.setdefault("lead_id", event["workflow_id"])  # a lead's id is its workflow id
    for key in _TEMPORAL_KEYS:
        event.pop(key, None)
    return event


# A Chinese mobile (11 digits from 13x to 19x, with or without 86/+86/0086, spaces or dashes between digits)
# or any +86/0086 number; not inside a longer run of letters and digits (an id, a hash, a timestamp).
_PHONE = re.compile(r"(?<![0-9A-Za-z+])(?:(?:\+|00)86[\s-]?\d(?:[\s-]?\d){6,11}|(?:86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8})"
                    r"(?![0-9A-Za-z])")


def _mask(match: re.Match[str]) -> str:
    text = match.group()
    return mask_phone(("+" if text.startswith("+") else "") + re.sub(r"\D", "", text))


def mask_phones_in(text: str) -> str:
    return _PHONE.sub(_mask, text)


def _masked(value: object) -> object:
    if isinstance(value, str):
        return mask_phones_in(value)
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        text = str(value)
        return value if _PHONE.fullmatch(text) is None else mask_phones_in(text)
    if isinstance(value, dict):
        return {_masked(k) if isinstance(k, str) else k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_masked(v) for v in value]
    text = repr(value)  # what the renderer would write for it (an exception, a model ...)
    masked = mask_phones_in(text)
    return value if masked == text else masked


def mask_phones(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Every phone number in any field or the message, masked as the API masks it (138****0001). Customers'
    names are not masked here: no log line carries one (ids, stages and dealers only)."""
    return {key: _masked(value) for key, value in event.items()}


def _extras(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Fields passed with `extra=` on stdlib records (e.g. lead_id, kind) become JSON fields."""
    record = event.get("_record")
    if record is not None:
        for key in ("lead_id", "kind", "stage", "dealer_id", "event_seq"):
            if hasattr(record, key):
                event.setdefault(key, getattr(record, key))
    return event


SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED, _extras, lift_temporal_ids],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,  # the traceback as text, then masked like the rest
                    mask_phones,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
    )


def configure_logging(level: str = "INFO") -> None:
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False  # the ids go in fields, not in the message
    activity.logger.activity_info_on_message = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*SHARED, lift_temporal_ids, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str):
    return structlog.get_logger(name)
