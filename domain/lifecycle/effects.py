"""The effects a decision asks the workflow to carry out: score, dispatch, a working-day deadline, notify,
assign a consultant."""

from __future__ import annotations

from datetime import datetime

from domain.models import Model, NotifyRequest


class ScoreEffect(Model):
    then: str  # route | dispatch | merge | none


class DispatchEffect(Model):
    reason: str
    priority: bool = False
    forced_dealer_id: str | None = None


class DeadlineEffect(Model):
    clock: str
    started_at: datetime
    working_days: int


class NotifyEffect(Model):
    request: NotifyRequest


class AssignEffect(Model):
    """The dealer's auto-assign policy picks the consultant (SPEC 3 step 6)."""


Effect = ScoreEffect | DispatchEffect | DeadlineEffect | NotifyEffect | AssignEffect


