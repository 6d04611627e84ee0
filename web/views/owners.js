// Owner care (issue 17): the dealer's after-sales task list with countdowns (#/owners), the owner's card
// (#/owners/<ownership id>: vehicle, upcoming care, history, consent, referrals) and the OEM's owner-care
// dashboard (#/owner-care).

import { ApiError, get, request } from "../api.js";
import { countdown } from "../countdown.js";
import { clear, h } from "../dom.js";
import { code, formatTime, t } from "../i18n.js";
import { isDealer } from "../session.js";

const kind = (k) => code("touchpoint", k);

export async function ownersView({ el }) {
  const tasks = h("div", { class: "list", testid: "owner-tasks" });
  const upcoming = h("div", { class: "list", testid: "owner-upcoming" });
  const owners = h("div", { class: "list", testid: "owner-list" });
  const note = h("p", { class: "muted", testid: "owner-note" });
  clear(el, h("h2", {}, t("nav.owners")), note,
    h("h3", {}, t("owners.tasks")), tasks,
    h("h3", {}, t("owners.upcoming")), upcoming,
    h("h3", {}, t("owners.ownerships")), owners);

  async function refresh() {
    const rows = await get("/v1/owner-care/tasks", { status: "open" });
    clear(tasks, rows.length ? rows.map((task) => h("div", { class: "row", testid: "owner-task", data: { status: task.status, overdue: task.overdue ? "1" : "" } },
      h("a", { href: `#/owners/${encodeURIComponent(task.ownership_id)}` }, h("b", {}, kind(task.kind))), " ",
      task.status === "lapsed" ? h("span", { class: "badge red" }, t("owners.overdue")) :
        countdown({ name: task.kind, started_at: task.created_at, deadline: task.due_at, paused: false }, { label: false }),
      " ", h("span", { class: "muted small" }, task.title),
      h("button", { class: "ghost", testid: "owner-task-done", on: { click: async () => {
        try { await request("POST", `/v1/owner-care/tasks/${encodeURIComponent(task.task_id)}/complete`); await refresh(); }
        catch (err) { note.textContent = err instanceof ApiError ? err.message : String(err); }
      } } }, t("owners.done"))))
      : h("p", { class: "empty" }, t("ui.empty")));
    const next = await get("/v1/owner-care/upcoming", { days: 60 });
    clear(upcoming, next.length ? next.map((u) => h("div", { class: "row" },
      h("a", { href: `#/owners/${encodeURIComponent(u.ownership_id)}` }, kind(u.kind)), " · ", formatTime(u.due_at)))
      : h("p", { class: "empty" }, t("ui.empty")));
    const list = await get("/v1/ownerships", { limit: 100 });
    clear(owners, list.length ? list.map((o) => h("div", { class: "row", testid: "owner-row" },
      h("a", { href: `#/owners/${encodeURIComponent(o.ownership_id)}` }, o.series || o.brand), " · ",
      formatTime(o.delivered_at), " · ", t(`owners.${o.status}`),
      o.next_due_at ? ` · ${t("owners.next")} ${formatTime(o.next_due_at)}` : ""))
      : h("p", { class: "empty" }, t("ui.empty")));
  }
  await refresh();
  return { refresh };
}

export async function ownerCardView({ el, params }) {
  const id = decodeURIComponent(params[0]);
  async function refresh() {
    const card = await get(`/v1/ownerships/${encodeURIComponent(id)}`);
    clear(el,
      h("h2", { testid: "owner-card-title" }, card.customer_name || "", " · ", card.series || card.brand),
      h("p", { class: "muted" }, `${t("owners.delivered")} ${formatTime(card.delivered_at)} · ${card.dealer_id} · `,
        h("span", { testid: "owner-status" }, t(`owners.${card.status}`)), card.stop_reason ? ` (${card.stop_reason})` : "",
        card.phone_masked ? ` · ${card.phone_masked}` : ""),
      h("p", {}, `${t("owners.insurance")}: ${card.insurance_expiry || "—"} · ${t("owners.mileage")}: ${card.mileage_km ?? "—"} km`),
      h("h3", {}, t("owners.upcoming")),
      h("div", { class: "list", testid: "owner-card-upcoming" }, card.upcoming.length ? card.upcoming.map((u) =>
        h("div", { class: "row" }, kind(u.kind), " · ", formatTime(u.due_at))) : h("p", { class: "empty" }, t("ui.empty"))),
      h("h3", {}, t("owners.history")),
      h("div", { class: "list", testid: "owner-card-history" }, card.tasks.length ? card.tasks.map((task) =>
        h("div", { class: "row" }, formatTime(task.created_at), " · ", kind(task.kind), " · ", t(`owners.${task.status}`),
          " · ", task.message_sent ? t("owners.messageSent") : t("owners.noMessage") + (task.message_note ? t("ui.inParens", { text: task.message_note }) : "")))
        : h("p", { class: "empty" }, t("ui.empty"))),
      h("h3", {}, t("owners.consent")),
      h("div", { class: "row", testid: "owner-card-consent" }, card.consent.map((c) =>
        h("span", { class: `badge ${c.granted ? "" : "red"}` }, `${t(`owners.purpose_${c.purpose}`)}: ${c.granted ? "✓" : "✗"}`))),
      h("h3", {}, t("owners.referrals")),
      // the referral code is a code, not words (lang="zxx": no linguistic content), in either language
      h("p", { testid: "owner-card-code" }, `${t("owners.code")}: `, h("b", { lang: card.referral_code ? "zxx" : null }, card.referral_code || "—")),
      h("div", { class: "list", testid: "owner-card-referrals" }, card.referrals.map((r) =>
        h("div", { class: "row" }, formatTime(r.attributed_at), " · ", r.won ? t("owners.won") : t("owners.pending"))),
      card.rewards.map((r) => h("div", { class: "row", testid: "owner-reward" }, `#${r.nth} ${code("reward", r.reward)} · ${t(`owners.${r.state}`)}`))));
  }
  await refresh();
  return { refresh };
}

export async function ownerCareDashboardView({ el }) {
  async function refresh() {
    const d = await get("/v1/dashboards/owner-care");
    const tile = (key, value) => h("div", { class: "tile", testid: `oc-${key}` }, h("div", { class: "muted small" }, t(`owners.dash_${key}`)),
      h("div", { class: "big" }, String(value)));
    clear(el, h("h2", {}, t("nav.ownerCare")),
      h("div", { class: "tiles", testid: "owner-care-dashboard" },
        tile("active", d.ownerships_active), tile("due", d.tasks_due),
        tile("onTime", d.tasks_done_on_time), tile("late", d.tasks_done_late),
        tile("lapsed", d.tasks_by_status.lapsed || 0),
        tile("tradeIns", d.trade_in_leads_created), tile("tradeInsWon", d.trade_in_leads_won),
        tile("referrals", d.referrals), tile("referralsWon", d.referrals_won),
        tile("rewards", Object.values(d.rewards_by_state).reduce((a, b) => a + b, 0)),
        tile("messages", d.messages_sent)));
  }
  await refresh();
  return { refresh };
}

export const showsOwners = () => true;
export const showsOwnerDashboard = () => !isDealer();
