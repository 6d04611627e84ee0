"""The policy: one TOML file holds every number a lead runs under.

`load_policy()` is called outside workflow code (API, starter, worker); the result travels in
the workflow input so a lead's policy is recorded in its history and replays identically.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from domain.durations import parse_duration
from domain.messages import CodedError

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.toml")


def _duration(value: object) -> object:
    # "15m" from the policy file; ISO 8601 ("PT15M") as pydantic serializes it in histories
    if isinstance(value, str) and not value.upper().startswith(("P", "-P")):
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GradeCadence(_Frozen):
    H: Duration
    A: Duration
    B: Duration
    C: Duration


class Clocks(_Frozen):
    receipt: Duration
    first_response: Duration
    public_pool: Duration
    first_deep_contact: Duration
    store_invitation: Duration
    regional_follow_through: Duration
    stall: Duration
    cleansing: Duration
    transfer_review: Duration
    transfer_review_competitive: Duration
    nurture_touch: Duration
    nurture_end: Duration
    reactivation: Duration
    revisit: Duration
    revisit_overdue: Duration
    grade_cadence: GradeCadence


class WorkingDays(_Frozen):
    defeat_review: int = Field(ge=1)
    appeal_window: int = Field(ge=1)
    appeal_review: int = Field(ge=1)


class CalendarOverrides(_Frozen):
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []


class Rules(_Frozen):
    engaged_call_minutes: float = Field(gt=0)
    decline_quota: float = Field(ge=0, le=1)
    decline_window: Duration
    max_reactivations: int = Field(ge=0)
    cleansing_grades: list[str]


class Scoring(_Frozen):
    thresholds: dict[str, float]
    items: dict[str, float]


class DispatchPolicy(_Frozen):
    weights: dict[str, float]
    penalty_window: Duration
    max_penalties: int = Field(ge=1)
    default_radius_km: float = Field(gt=0)


class Scorecard(_Frozen):
    """Weights of the monthly dealer scorecard (SPEC 8, 考核); they sum to 1. Defaults keep policies
    recorded before this table existed readable."""

    conversion: float = Field(default=0.30, ge=0, le=1)
    store_visit: float = Field(default=0.20, ge=0, le=1)
    deal: float = Field(default=0.20, ge=0, le=1)
    follow_up_timeliness: float = Field(default=0.10, ge=0, le=1)
    status_update_accuracy: float = Field(default=0.10, ge=0, le=1)
    defeat_report_compliance: float = Field(default=0.05, ge=0, le=1)
    cooperation: float = Field(default=0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Scorecard:
        total = sum(self.model_dump().values())
        if abs(total - 1) > 1e-6:
            raise CodedError("invalid.weights_sum", total=f"{total:g}")
        return self


class NotifyPolicy(_Frozen):
    """Push channels (issue 14): an SLA alert still unread after this many minutes goes to the person's next
    channel (0: never). A default, so policies in older histories still load."""

    escalate_unread_minutes: int = Field(default=10, ge=0)


# -- owner care and referrals (issue 17) -------------------------------------------------------------------
class RewardTier(_Frozen):
    """The n-th won referral of one owner earns this reward (the tier with the largest `count` <= n)."""

    count: int = Field(ge=1)
    reward: str = Field(min_length=1, max_length=64)


class OwnerCare(_Frozen):
    """The owner-care schedule after delivery (SPEC 10, policy `[owner_care]`): every offset and switch. Defaults
    keep policies written before this table readable (running leads' histories hold them)."""

    enabled: bool = True
    first_maintenance: bool = True
    first_maintenance_after: Duration = timedelta(days=91)  # 3 months ...
    first_maintenance_km: int = Field(default=5000, ge=1)  # ... or 5,000 km, whichever first
    yearly_maintenance: bool = True
    maintenance_every: Duration = timedelta(days=365)  # after the last service (or the last reminder)
    insurance_renewal: bool = True
    insurance_notice: Duration = timedelta(days=30)  # before the policy expires
    insurance_term: Duration = timedelta(days=365)  # expiry when none was given: delivery + term; next: + term
    anniversary: bool = True
    birthday: bool = True
    trade_in_review: bool = True
    trade_in_after_months: int = Field(default=36, ge=1)
    task_due: Duration = timedelta(days=3)  # a touchpoint's task lapses (alert) this long after it is created
    catch_up: Duration = timedelta(days=7)  # a touchpoint missed by more than this (switched on late) is skipped
    continue_every: Duration = timedelta(days=365)  # the workflow continues as new at least this often
    referral_code_valid_for: Duration = timedelta(days=730)
    referral_tiers: list[RewardTier] = [RewardTier(count=1, reward="maintenance_voucher"),
                                        RewardTier(count=3, reward="charger")]


class Policy(_Frozen):
    name: str
    version: str
    time_scale: float = Field(default=1.0, gt=0)
    clocks: Clocks
    working_days: WorkingDays
    calendar: CalendarOverrides
    rules: Rules
    scoring: Scoring
    dispatch: DispatchPolicy
    scorecard: Scorecard = Scorecard()
    notify: NotifyPolicy = NotifyPolicy()
    owner_care: OwnerCare = OwnerCare()

    def scaled(self, delta: timedelta) -> timedelta:
        """A policy duration as the engine runs it (compressed by LEADFLOW_TIME_SCALE)."""
        return delta if self.time_scale == 1 else delta / self.time_scale


def load_policy(path: str | Path | None = None, time_scale: float | None = None) -> Policy:
    """Read the policy file (LEADFLOW_POLICY or the bundled default) and the time scale."""
    path = Path(path or os.environ.get("LEADFLOW_POLICY") or DEFAULT_POLICY_PATH)
    with path.open("rb") as f:
        raw = tomllib.load(f)
    if time_scale is None:
        time_scale = float(os.environ.get("LEADFLOW_TIME_SCALE", "1") or 1)
    raw["time_scale"] = time_scale
    return Policy.model_validate(raw)
