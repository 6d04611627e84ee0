"""structlog: one JSON line per event, with the lead, workflow and run ids wherever there are some.

Workflow code logs through `workflow.logger` (the SDK drops those lines while replaying, so a
replay never logs twice) and activities through `activity.logger`; both are stdlib loggers
whose records carry the SDK's `temporal_workflow` / `temporal_activity` context, which
`lift_temporal_ids` turns into `lead_id`, `workflow_id` and `run_id` fields.
"""

from __future__ import annotations

import logging
import sys

import structlog

_TEMPORAL_KEYS = ("temporal_workflow", "temporal_activity")


def lift_temporal_ids(_logger, _method, event: dict) -> dict:
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


def _extras(_logger, _method, event: dict) -> dict:
    """Fields passed with `extra=` on stdlib records (e.g. lead_id, kind) become JSON fields."""
    record = event.get("_record")
    if record is not None:
        for key in ("lead_id", "kind", "stage", "dealer_id", "event_seq"):
            if hasattr(record, key):
                event.setdefault(key, getattr(record, key))
    return event


SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED, _extras, lift_temporal_ids],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
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
