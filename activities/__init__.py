"""Activities touch the world (database, calendar); the workflow only orchestrates them."""

from __future__ import annotations

from sqlalchemy import Engine

from activities.assignment import AssignmentActivities
from activities.calendar import CalendarActivities
from activities.dispatch import DealerProfiles, DispatchActivities
from activities.notify import NotifyActivities
from activities.projection import ProjectionActivities
from activities.scoring import ScoringActivities
from activities.webhooks import WebhookActivities


def all_activities(engine: Engine, push_starter=None) -> list:
    """push_starter (channels.delivery.PushStarter): the activity that writes a notice's inbox rows (the projection,
    or notify for runs begun before patch notify-in-projection) starts its push workflow."""
    dealers = DealerProfiles()  # one cache of the dealers for scoring and dispatch
    scoring, dispatch = ScoringActivities(engine, dealers), DispatchActivities(engine, dealers)
    notify, projection = NotifyActivities(engine, push_starter), ProjectionActivities(engine, push_starter)
    assignment, webhooks = AssignmentActivities(engine), WebhookActivities(engine)
    calendar = CalendarActivities(engine)
    return [
        assignment.pick_consultant, assignment.reserve_claim, dispatch.reserve_decline,
        scoring.score_lead, dispatch.dispatch_lead, dispatch.check_decline_quota,
        notify.notify, projection.record_lead, calendar.working_day_deadline,
        calendar.affected_leads, calendar.next_year_state,
        webhooks.webhook_targets, webhooks.deliver_webhook, webhooks.give_up_webhook,
    ]
