"""Every timeline event kind the lifecycle emits, by name (issue 15).

`Transition.emit()` takes an `Ev` member, so a misspelt kind is a programming error that fails the workflow
task (and is retried once fixed) instead of a clock that silently never starts or stops. Clocks name the
events that start and stop them (`domain/clocks.py`); tests/test_events.py fails when a clock names an event
that is never emitted. The values are the strings recorded in histories and the read model: never change one.
Notifications add one derived kind per alert: `notified_<alert kind>` (`notified()`).
"""

from __future__ import annotations

from enum import StrEnum


class Ev(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALERT_RAISED = "alert_raised"
    APPEAL_DECIDED = "appeal_decided"
    APPEAL_FILED = "appeal_filed"
    APPEAL_WINDOW_CLOSED = "appeal_window_closed"
    ASSIGNED = "assigned"
    BEHAVIOUR_RECORDED = "behaviour_recorded"
    CALENDAR_PROVISIONAL = "calendar_provisional"
    CANCEL_APPROVED = "cancel_approved"
    CANCEL_REJECTED = "cancel_rejected"
    CANCEL_REQUESTED = "cancel_requested"
    CLAIMED = "claimed"
    CLEANSING_RECORDED = "cleansing_recorded"
    CLEANSING_STARTED = "cleansing_started"
    CLOCK_LAPSED = "clock_lapsed"
    CLOSED_INVALID = "closed_invalid"
    CLOSED_LOST = "closed_lost"
    COMPLETED = "completed"
    DEADLINE_MOVED = "deadline_moved"
    DEADLINE_SET = "deadline_set"
    DECLINED = "declined"
    DEFEAT_APPLIED = "defeat_applied"
    DEFEAT_DECIDED = "defeat_decided"
    DEFEAT_RETURNED = "defeat_returned"
    DEFEAT_SUBMITTED = "defeat_submitted"
    DELIVERED = "delivered"
    DISPATCHED = "dispatched"
    FOLLOW_UP_LOGGED = "follow_up_logged"
    HOLDING_ENDED = "holding_ended"
    INVITED = "invited"
    LEAD_CREATED = "lead_created"
    MOVED_TO_PUBLIC_POOL = "moved_to_public_pool"
    NO_ELIGIBLE_DEALER = "no_eligible_dealer"
    NURTURE_CONTENT_SENT = "nurture_content_sent"
    NURTURING_ENDED = "nurturing_ended"
    NURTURING_STARTED = "nurturing_started"
    ORDERED = "ordered"
    PENALTY_RECORDED = "penalty_recorded"
    PENALTY_REVOKED = "penalty_revoked"
    POLICY_MIGRATED = "policy_migrated"  # issue 16: lead ops moved the running lead to another policy version
    PSEUDO_DEFEAT_DECIDED = "pseudo_defeat_decided"
    QUOTED = "quoted"
    RAW_LEAD_MERGED = "raw_lead_merged"
    REACTIVATED = "reactivated"
    REASSIGNED = "reassigned"
    REGIONAL_CONTACT_LOGGED = "regional_contact_logged"
    REGIONAL_MANAGER_ALERTED = "regional_manager_alerted"
    REVISIT_DUE = "revisit_due"
    REVISIT_LOGGED = "revisit_logged"
    SCORED = "scored"
    SENT_TO_CALL_CENTER = "sent_to_call_center"
    SIGNAL_REFUSED = "signal_refused"
    STALL_DETECTED = "stall_detected"
    TEST_DRIVEN = "test_driven"
    TRANSFER_APPROVED = "transfer_approved"
    TRANSFER_REJECTED = "transfer_rejected"
    TRANSFER_REQUESTED = "transfer_requested"
    VISITED = "visited"
    WENT_DORMANT = "went_dormant"
    WON = "won"


NOTIFIED_PREFIX = "notified_"


def notified(kind: str) -> str:
    """The timeline kind of a notification sent for `kind` (a clock's alert or an event)."""
    return NOTIFIED_PREFIX + kind


_KINDS = frozenset(e.value for e in Ev)  # (a set: `emit` asks this for every event)


def is_event_kind(kind: str) -> bool:
    return kind in _KINDS or kind.startswith(NOTIFIED_PREFIX)
