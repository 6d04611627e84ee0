"""Event kinds have names (domain/events.py): clocks start and stop on events that really happen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from domain.clocks import CLOCKS, PAUSE_ON, RESUME_ON
from domain.events import Ev, is_event_kind, notified
from domain.lifecycle import Transition
from domain.models import LeadState
from domain.policy import load_policy

LIFECYCLE = Path(__file__).resolve().parent.parent / "domain" / "lifecycle"


def emitted_kinds() -> set[str]:
    """Every `Ev.X` the lifecycle passes to `emit()` or to the helpers that emit it (`_advance`)."""
    found: set[str] = set()
    for path in LIFECYCLE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Ev":
                found.add(Ev[node.attr].value)
    return found


def test_every_clock_starts_and_stops_on_events_that_are_emitted():
    emitted = emitted_kinds()
    wrong = {spec.name: sorted((spec.starts_on | spec.stops_on) - emitted) for spec in CLOCKS.values()
             if (spec.starts_on | spec.stops_on) - emitted}
    assert not wrong, f"clocks naming events nothing emits: {wrong}"
    assert PAUSE_ON | RESUME_ON <= emitted


def test_every_named_kind_is_emitted_somewhere():
    assert {e.value for e in Ev} - emitted_kinds() == set()


def test_the_check_catches_a_clock_on_a_never_emitted_event():
    emitted = emitted_kinds()
    assert "quote_sent" not in emitted  # the negative control: a plausible, misspelt event name
    assert not is_event_kind("quote_sent")


def test_emitting_an_unknown_kind_is_a_programming_error(lead_state: LeadState):
    t = Transition.begin(lead_state, load_policy(), lead_state.updated_at)
    with pytest.raises(ValueError, match="unknown timeline event kind"):
        t.emit("acknowleged")
    event = t.emit(Ev.ACKNOWLEDGED)
    assert event.kind == "acknowledged" and type(event.kind) is str
    assert t.emit(notified("first_response")).kind == "notified_first_response"


@pytest.fixture
def lead_state() -> LeadState:
    from datetime import UTC, datetime

    from domain.lifecycle import start_lead
    from domain.models import SYSTEM_ACTOR
    from tests.fixtures import raw_lead
    now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    return start_lead("L-1", "c-1", raw_lead(), load_policy(), now, SYSTEM_ACTOR).state
