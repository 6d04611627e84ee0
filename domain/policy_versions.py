"""Policies as versioned data (issue 16): checking a draft, and the diff between two versions. Pure.

A draft is the policy document (the TOML's tables as JSON). `check_draft()` validates it against the
policy schema (`domain.policy.Policy`: unknown keys are refused there) and then for values that make no
sense; every problem names its key path (`clocks.receipt`) and says why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from domain.messages import CATALOG, CodedError, render
from domain.policy import Policy
from domain.scoring import RULES

# Keys the engine sets itself, never a draft: the demo time scale.
ENGINE_KEYS = frozenset({"time_scale"})
DISPATCH_FACTORS = frozenset({"distance", "stock", "conversion", "rating", "load", "penalties"})
SCORE_ITEMS = frozenset(name for rules in RULES.values() for name in rules)
GRADES = ("H", "A", "B")


class PolicyProblem(Exception):
    """A draft the schema or common sense refuses: `said` lists (key path, message code, parameters), the codes
    `invalid.*` of domain.messages; `problems` the same as (key path, English reason)."""

    def __init__(self, said: list[tuple[str, str, dict[str, Any]]]):
        self.said = said
        self.problems = [(path, render(code, params, "en")) for path, code, params in said]
        super().__init__("; ".join(f"{p}: {r}" for p, r in self.problems))


def _path(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


Said = tuple[str, str, dict[str, Any]]


def _why(err: Any) -> tuple[str, dict[str, Any]]:
    """A pydantic error as a message code and its parameters (a CodedError a validator raised, or its type)."""
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("error"), CodedError):
        return ctx["error"].code, ctx["error"].params
    code = "invalid.policy.unknown_key" if err["type"] == "extra_forbidden" else f"invalid.{err['type']}"
    return (code if code in CATALOG else "invalid.other"), {k: v for k, v in ctx.items()
                                                             if isinstance(v, str | int | float)}


def check_draft(document: dict[str, Any], time_scale: float = 1.0) -> Policy:
    """The draft as a Policy, or PolicyProblem naming every key path that is wrong and why."""
    if not isinstance(document, dict):
        raise PolicyProblem([("", "invalid.policy.not_object", {})])
    problems: list[Said] = [(k, "invalid.policy.engine_key", {}) for k in document if k in ENGINE_KEYS]
    try:
        policy = Policy.model_validate({**{k: v for k, v in document.items() if k not in ENGINE_KEYS},
                                        "time_scale": time_scale})
    except ValidationError as e:
        for err in e.errors():
            problems.append((_path(err["loc"]), *_why(err)))
        raise PolicyProblem(problems) from None
    problems += sense_problems(policy)
    if problems:
        raise PolicyProblem(problems)
    return policy


def sense_problems(p: Policy) -> list[Said]:
    """Values the schema lets through but that make no sense."""
    out: list[Said] = []
    for name, value in p.clocks:
        if isinstance(value, timedelta):
            if value <= timedelta(0):
                out.append((f"clocks.{name}", "invalid.policy.positive", {"value": str(value)}))
        else:  # grade_cadence
            for grade, d in value:
                if d <= timedelta(0):
                    out.append((f"clocks.{name}.{grade}", "invalid.policy.positive", {"value": str(d)}))
    for key in ("decline_window",):
        if getattr(p.rules, key) <= timedelta(0):
            out.append((f"rules.{key}", "invalid.policy.positive", {"value": str(getattr(p.rules, key))}))
    if p.dispatch.penalty_window <= timedelta(0):
        out.append(("dispatch.penalty_window", "invalid.policy.positive", {"value": str(p.dispatch.penalty_window)}))
    weights = p.dispatch.weights
    for k, v in weights.items():
        if k not in DISPATCH_FACTORS:
            out.append((f"dispatch.weights.{k}", "invalid.policy.unknown_factor",
                        {"known": ", ".join(sorted(DISPATCH_FACTORS))}))
        elif v < 0 or v > 1:
            out.append((f"dispatch.weights.{k}", "invalid.policy.weight_range", {"value": f"{v:g}"}))
    total = sum(weights.values())
    if abs(total - 1) > 1e-6:
        out.append(("dispatch.weights", "invalid.policy.weights_sum", {"total": f"{total:g}"}))
    for k, v in p.scoring.items.items():
        if k not in SCORE_ITEMS:
            out.append((f"scoring.items.{k}", "invalid.policy.unknown_item", {}))
        elif v < 0:
            out.append((f"scoring.items.{k}", "invalid.policy.negative_points", {"value": f"{v:g}"}))
    th = p.scoring.thresholds
    for k, v in th.items():
        if k not in GRADES:
            out.append((f"scoring.thresholds.{k}", "invalid.policy.unknown_threshold", {}))
        elif not 0 <= v <= 100:
            out.append((f"scoring.thresholds.{k}", "invalid.policy.threshold_range", {"value": f"{v:g}"}))
    order = [th[g] for g in GRADES if g in th]
    if order != sorted(order, reverse=True) or len(set(order)) != len(order):
        out.append(("scoring.thresholds", "invalid.policy.thresholds_order", {}))
    for g in p.rules.cleansing_grades:
        if g not in ("H", "A", "B", "C"):
            out.append(("rules.cleansing_grades", "invalid.policy.unknown_grade", {"grade": g}))
    return out


def document_of(policy: Policy) -> dict[str, Any]:
    """The policy as a draft document (JSON; durations as ISO 8601), without the engine's time scale."""
    doc = policy.model_dump(mode="json")
    doc.pop("time_scale", None)
    return doc


def diff(before: dict[str, Any] | None, after: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Key paths that differ: [{"path", "before", "after"}], sorted by path."""
    out: list[dict[str, Any]] = []
    before = before or {}
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}{key}"
        b, a = before.get(key), after.get(key)
        if isinstance(b, dict) and isinstance(a, dict):
            out += diff(b, a, path + ".")
        elif b != a:
            out.append({"path": path, "before": b, "after": a})
    return out


def apply_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` (a partial document) laid over `base`, table by table."""
    out = dict(base)
    for k, v in changes.items():
        out[k] = apply_changes(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out
