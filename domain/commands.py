"""People's actions on a lead: one model per action, a discriminated union on `action`.

The API exposes one endpoint per action (its body is the model without `action`), the workflow
receives them through the `act` update (and `reassign`/`appeal` signals for ops), and the
decider in `domain.lifecycle` decides whether the lead's stage allows them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from domain.models import Actor, BehaviourEvent, Model, RawLead, Timeframe


class ContactChannel(StrEnum):
    CALL = "call"
    WECHAT = "wechat"
    SMS = "sms"
    VISIT = "visit"
    TEST_DRIVE = "test_drive"
    QUOTE = "quote"


class TransferReason(StrEnum):
    REGION_MISMATCH = "region_mismatch"
    DEMAND_MISMATCH = "demand_mismatch"
    OTHER = "other"


class DefeatReason(StrEnum):
    BOUGHT_OTHER_BRAND = "bought_other_brand"
    BOUGHT_FROM_OTHER_DEALER = "bought_from_other_dealer"
    NO_SHORT_TERM_PLAN = "no_short_term_plan"
    PRICE_NOT_AGREED = "price_not_agreed"
    UNREACHABLE = "unreachable"
    INVALID = "invalid"


class DefeatVerdict(StrEnum):
    TRUE_DEFEAT = "true_defeat"
    PSEUDO_DEFEAT = "pseudo_defeat"


class AppealOutcome(StrEnum):
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class CleansingOutcome(StrEnum):
    VERIFIED = "verified"
    NURTURE = "nurture"
    INVALID = "invalid"


class PaymentMethod(StrEnum):
    CASH = "cash"
    LOAN = "loan"


Note = Annotated[str, Field(max_length=2000)]


class Needs(Model):
    use: str | None = Field(default=None, max_length=200)
    budget: int | None = Field(default=None, ge=0, le=100_000_000)
    timeframe: str | None = Field(default=None, max_length=100)
    concerns: str | None = Field(default=None, max_length=500)


class Acknowledge(Model):
    """确认接收."""

    action: Literal["acknowledge"] = "acknowledge"


class Decline(Model):
    """A choice-right dealer declines a dispatched lead (线索自主选择权)."""

    action: Literal["decline"] = "decline"
    reason: Note = Field(min_length=1)


class Assign(Model):
    action: Literal["assign"] = "assign"
    consultant_id: str = Field(min_length=1, max_length=64)


class Claim(Model):
    """A consultant claims a lead from the dealer's public pool (公海池)."""

    action: Literal["claim"] = "claim"


class LogFollowUp(Model):
    action: Literal["log_follow_up"] = "log_follow_up"
    channel: ContactChannel
    duration_minutes: float | None = Field(default=None, ge=0, le=600)
    note: Note = ""
    needs_captured: bool = False
    needs: Needs | None = None


class RequestTransfer(Model):
    """调单."""

    action: Literal["request_transfer"] = "request_transfer"
    reason: TransferReason
    text: Note = Field(min_length=1)


class ReviewTransfer(Model):
    action: Literal["review_transfer"] = "review_transfer"
    approve: bool
    explanation: Note = Field(min_length=1)


class Invite(Model):
    action: Literal["invite"] = "invite"
    visit_at: datetime | None = None
    note: Note = ""


class RecordVisit(Model):
    action: Literal["record_visit"] = "record_visit"
    note: Note = ""


class RecordTestDrive(Model):
    action: Literal["record_test_drive"] = "record_test_drive"
    model: str | None = Field(default=None, max_length=64)
    note: Note = ""


class RecordQuote(Model):
    action: Literal["record_quote"] = "record_quote"
    amount: float = Field(gt=0, le=100_000_000)
    note: Note = ""


class RecordOrder(Model):
    """下订: deposit paid."""

    action: Literal["record_order"] = "record_order"
    deposit: float = Field(gt=0, le=100_000_000)
    model: str | None = Field(default=None, max_length=64)


class RequestCancel(Model):
    """退单 request; the dealer manager approves it."""

    action: Literal["request_cancel"] = "request_cancel"
    reason: Note = Field(min_length=1)


class ReviewCancel(Model):
    action: Literal["review_cancel"] = "review_cancel"
    approve: bool
    note: Note = ""


class RecordWin(Model):
    """成交: full payment (cash, or loan paid out)."""

    action: Literal["record_win"] = "record_win"
    payment: PaymentMethod
    amount: float = Field(gt=0, le=100_000_000)


class RecordDelivery(Model):
    """交车."""

    action: Literal["record_delivery"] = "record_delivery"
    vin: str | None = Field(default=None, max_length=32)
    # owner care (issue 17): the insurance policy's expiry (editable later on the owner's card) and the owner's
    # birthday when known; both start the vehicle's owner-care schedule
    insurance_expiry: date | None = None
    owner_birthday: date | None = None


class LogRevisit(Model):
    """购车 3 个月后回访, logged by the consultant."""

    action: Literal["log_revisit"] = "log_revisit"
    note: Note = Field(min_length=1)


class ApplyForDefeat(Model):
    """战败申请."""

    action: Literal["apply_for_defeat"] = "apply_for_defeat"
    reason_code: DefeatReason
    note: Note = Field(min_length=1)


class ReviewDefeatApplication(Model):
    """The dealer manager approves a defeat application (or sends it back)."""

    action: Literal["review_defeat_application"] = "review_defeat_application"
    approve: bool
    note: Note = ""


class DecideDefeat(Model):
    """The OEM review team's verdict (战败复核)."""

    action: Literal["decide_defeat"] = "decide_defeat"
    verdict: DefeatVerdict
    note: Note = Field(min_length=1)
    reassign_to_call_center: bool = False


class Appeal(Model):
    action: Literal["appeal"] = "appeal"
    evidence: Note = Field(min_length=1)


class DecideAppeal(Model):
    action: Literal["decide_appeal"] = "decide_appeal"
    outcome: AppealOutcome
    note: Note = Field(min_length=1)


class CleansingCorrections(Model):
    customer_name: str | None = Field(default=None, min_length=1, max_length=64)
    city: str | None = Field(default=None, max_length=64, description="the city as intake takes it (name or code); "
                             "the API stores its Chinese name")
    series: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    budget: int | None = Field(default=None, ge=0, le=100_000_000)
    timeframe: Timeframe | None = None  # checked here, not first inside the workflow (RawLead's rule)


class RecordCleansing(Model):
    """The call center's cleansing result (线索清洗)."""

    action: Literal["record_cleansing"] = "record_cleansing"
    outcome: CleansingOutcome
    corrections: CleansingCorrections = CleansingCorrections()
    note: Note = ""


class Reassign(Model):
    """Lead ops moves the lead: to a named dealer, to the next best one, or to the call center."""

    action: Literal["reassign"] = "reassign"
    dealer_id: str | None = Field(default=None, max_length=64)
    to_call_center: bool = False
    reason: Note = Field(min_length=1)


class LogRegionalContact(Model):
    """The regional manager logs that they contacted the dealer about an alert."""

    action: Literal["log_regional_contact"] = "log_regional_contact"
    note: Note = Field(min_length=1)


Command = Annotated[
    Acknowledge
    | Decline
    | Assign
    | Claim
    | LogFollowUp
    | RequestTransfer
    | ReviewTransfer
    | Invite
    | RecordVisit
    | RecordTestDrive
    | RecordQuote
    | RecordOrder
    | RequestCancel
    | ReviewCancel
    | RecordWin
    | RecordDelivery
    | LogRevisit
    | ApplyForDefeat
    | ReviewDefeatApplication
    | DecideDefeat
    | Appeal
    | DecideAppeal
    | RecordCleansing
    | Reassign
    | LogRegionalContact,
    Field(discriminator="action"),
]

COMMAND_TYPES: dict[str, type[Model]] = {
    # the union inside Annotated; typing does not declare __origin__ on Annotated aliases
    t.model_fields["action"].default: t for t in Command.__origin__.__args__  # type: ignore[attr-defined]
}


class CommandEnvelope(Model):
    actor: Actor
    command: Command
    request_id: str | None = Field(default=None, max_length=128)


class IntakeRequest(Model):
    raw: RawLead
    actor: Actor


class BehaviourRequest(Model):
    event: BehaviourEvent
    actor: Actor


class IntakeResult(Model):
    lead_id: str
    outcome: str  # created | merged | reactivated (intake); recorded | duplicate (behaviour)
    stage: str
    previous_lead_id: str | None = None
    dealer_id: str | None = None  # who holds the lead after intake
    consultant_id: str | None = None
    repeat: bool = False  # this raw lead (channel + external id) was taken before: the same answer, nothing changed


class ActionResult(Model):
    lead_id: str
    action: str
    stage: str | None  # None when shown to a dealer that no longer holds the lead
    dealer_id: str | None
    consultant_id: str | None
    message: str
