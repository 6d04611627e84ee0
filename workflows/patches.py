"""Every `workflow.patched(...)` id the workflows call: what it changed, when, and when it can go.

A patch keeps a running workflow on the path it began with while new runs take the new one. Its life:
1. `workflow.patched(id)` guards the change (old histories replay the old branch);
2. once no run that began before the patch is open any more (the oldest open lead's start, or the
   namespace's retention for closed ones you still replay, is after `added` + the longest a lead can live),
   replace it with `workflow.deprecate_patch(id)` and drop the old branch;
3. once no run that began before step 2's deploy is open, remove the call.

`python -m ops.replay` checks a cluster's histories against the code before each deploy, and names the
patches a failing history holds or lacks. tests/test_patches.py fails when a `patched(...)` call names an
id that is not registered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


def no_run_before(day: date) -> str:
    """The condition to deprecate a patch added on `day`, as the visibility query that must find nothing.
    (A continued-as-new run starts a fresh history, where the patch is decided anew.)"""
    return (f'no open run started before it: `ExecutionStatus="Running" AND StartTime < "{day.isoformat()}T00:00:00Z"` '
            'finds none')


@dataclass(frozen=True)
class Patch:
    id: str
    changed: str  # what the new branch does that the old one did not
    added: date  # the day it went into main
    workflow: str  # the workflow class that calls it
    deprecate_when: str  # when `deprecate_patch` may replace it (then, one more deploy later, removal)


PATCHES: dict[str, Patch] = {p.id: p for p in [
    Patch("webhooks", "a settled batch starts a webhook fan-out child workflow when someone subscribes",
          date(2026, 11, 23), "LeadWorkflow (workflows/webhooks.publish)",
          no_run_before(date(2026, 11, 23))),
    Patch("sla-penalties", "an SLA lapse counts as a penalty against the holding dealer",
          date(2026, 11, 23), "LeadWorkflow", no_run_before(date(2026, 11, 23))),
    Patch("webhook-targets-in-projection",
          "the projection activity answers the webhook subscribers (no separate local look-up)",
          date(2026, 11, 23), "LeadWorkflow", no_run_before(date(2026, 11, 23))),
    Patch("local-activities", "the lead's reads (score, dispatch, consultant, decline quota, calendar) run as "
          "local activities; also gated by LEADFLOW_LOCAL_ACTIVITIES for rolling upgrades",
          date(2026, 11, 23), "LeadWorkflow",
          "every worker runs a version that has it, and " + no_run_before(date(2026, 11, 23))),
    Patch("calendar-table", "a working-day deadline counted on a provisional calendar year adds a timeline entry "
          "(calendar_provisional) and asks for the head of lead ops' once-per-year alert",
          date(2026, 12, 5), "LeadWorkflow", no_run_before(date(2026, 12, 5))),
    Patch("calendar-correction", "the calendar_changed signal counts open working-day clocks again and records "
          "deadline_moved (before it, a run ignores the signal)",
          date(2026, 12, 5), "LeadWorkflow", no_run_before(date(2026, 12, 5))),
    Patch("atomic-limits", "dispatch, auto-assignment, declines and claims spend the dealer's or consultant's limit "
          "in the reservation ledger under its lock (db/limits.py); a spending action waits for the one before it",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("spending-in-turn", "two spending actions (decline, claim) woken in one activation take turns: the second "
          "looks again and waits, where both used to pass the wait at once and reserve side by side (issue 12)",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("notify-in-projection", "a run that began with it writes its alerts' inbox rows in the read-model "
          "activity that follows them (record_lead) instead of a notify activity each: one workflow task and one "
          "activity fewer per alert (the intake: two workflow tasks, not three)",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("policy-facts", "the decider's inputs (intakes, behaviour, actions, signals, the reads' answers) go to the "
          "read model with each projection (lead_fact), for the what-if simulator",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("policy-migration", "the migrate_policy signal moves a running lead to another policy version and records "
          "policy_migrated (before it, a run ignores the signal)",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("owner-care", "a delivered lead starts its vehicle's owner-care workflow (`owner-<lead id>`, an abandoned "
          "child): touchpoints, tasks, owner messages, the trade-in lead (issue 17)",
          date(2026, 12, 6), "LeadWorkflow", no_run_before(date(2026, 12, 6))),
    Patch("owner-care-local-start", "a new ownership's first read-model row is written by a local activity in its "
          "first workflow task (one workflow task, then its timer) instead of a remote activity and a second task "
          "(issue 17's fleet benchmark: the server's work per new ownership)",
          date(2026, 12, 6), "OwnerCareWorkflow", no_run_before(date(2026, 12, 6))),
]}
