"""Policies as versioned data (issue 16): checking a draft, and the diff between two versions. Pure.

A draft is the policy document (the TOML's tables as JSON). `check_draft()` validates it against the
policy schema (`domain.policy.Policy`: unknown keys are refused there) and then for values that make no
sense; every problem names its key path (`clocks.receipt`) and says why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from domain.policy import Policy
from domain.scoring import RULES

# Keys the engine sets itself, never a draft: the demo time scale.
ENGINE_KEYS = frozenset({"time_scale"})
DISPATCH_FACTORS = frozenset({"distance", "stock", "conversion", "rating", "load", "penalties"})
SCORE_ITEMS = frozenset(name for rules in RULES.values() for name in rules)
GRADES = ("H", "A", "B")


class PolicyProblem(Exception):
    """A draft the schema or common sense refuses: `problems` is a list of (key path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {r}" for p, r in problems))
        self.problems = problems


def _path(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def check_draft(document: dict[str, Any], time_scale: float = 1.0) -> Policy:
    """The draft as a Policy, or PolicyProblem naming every key path that is wrong and why."""
    if not isinstance(document, dict):
        raise PolicyProblem([("", "a policy is an object of tables (clocks, rules, scoring, dispatch, ...)")])
    problems: list[tuple[str, str]] = [(k, "set by the engine, not by a policy") for k in document if k in ENGINE_KEYS]
    try:
        policy = Policy.model_validate({**{k: v for k, v in document.items() if k not in ENGINE_KEYS},
                                        "time_scale": time_scale})
    except ValidationError as e:
        for err in e.errors():
            reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append((_path(err["loc"]), reason))
        raise PolicyProblem(problems) from None
    problems += sense_problems(policy)
    if problems:
        raise PolicyProblem(problems)
    return policy


def sense_problems(p: Policy) -> list[tuple[str, str]]:
    """Values the schema lets through but that make no sense."""
    out: list[tuple[str, str]] = []
    for name, value in p.clocks:
        if isinstance(value, timedelta):
            if value <= timedelta(0):
                out.append((f"clocks.{name}", f"a duration must be positive, not {value}"))
        else:  # grade_cadence
            for grade, d in value:
                if d <= timedelta(0):
                    out.append((f"clocks.{name}.{grade}", f"a duration must be positive, not {d}"))
    for key in ("decline_window",):
        if getattr(p.rules, key) <= timedelta(0):
            out.append((f"rules.{key}", "a duration must be positive"))
    if p.dispatch.penalty_window <= timedelta(0):
        out.append(("dispatch.penalty_window", "a duration must be positive"))
    weights = p.dispatch.weights
    for k, v in weights.items():
        if k not in DISPATCH_FACTORS:
            out.append((f"dispatch.weights.{k}",
                        f"unknown dispatch factor (known: {', '.join(sorted(DISPATCH_FACTORS))})"))
        elif v < 0 or v > 1:
            out.append((f"dispatch.weights.{k}", f"a weight is between 0 and 1, not {v:g}"))
    total = sum(weights.values())
    if abs(total - 1) > 1e-6:
        out.append(("dispatch.weights", f"weights must sum to 1, not {total:g}"))
    for k, v in p.scoring.items.items():
        if k not in SCORE_ITEMS:
            out.append((f"scoring.items.{k}", "unknown scoring item"))
        elif v < 0:
            out.append((f"scoring.items.{k}", f"points cannot be negative ({v:g})"))
    th = p.scoring.thresholds
    for k, v in th.items():
        if k not in GRADES:
            out.append((f"scoring.thresholds.{k}", "unknown grade (H, A, B; below B is C)"))
        elif not 0 <= v <= 100:
            out.append((f"scoring.thresholds.{k}", f"a threshold is a score from 0 to 100, not {v:g}"))
    order = [th[g] for g in GRADES if g in th]
    if order != sorted(order, reverse=True) or len(set(order)) != len(order):
        out.append(("scoring.thresholds", "thresholds must fall strictly from H to A to B"))
    for g in p.rules.cleansing_grades:
        if g not in ("H", "A", "B", "C"):
            out.append(("rules.cleansing_grades", f"unknown grade {g!r}"))
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
