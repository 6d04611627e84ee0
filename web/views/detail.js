// One lead: customer, score explanation, open clocks, the full timeline, holdings, and a button for
// each action the API says the caller may take now (allowed_actions), each opening its form.

import { ApiError, get } from "../api.js";
import { countdown } from "../countdown.js";
import { clear, h } from "../dom.js";
import { actionForm } from "../forms.js";
import { code, eventName, formatMoney, formatTime, has, message, t } from "../i18n.js";
import { isManager, isOem, temporalUrl } from "../session.js";
import { gradeBadge, stageBadge } from "./lists.js";

// ------------------------------------------------------------------ one-tap contact (issue 13 section 5)
// Tapping call / SMS / copy WeChat remembers it; coming back to the page offers to log the follow-up with the
// contact mode preset.
const CONTACT_KEY = "leadflow.contact";
let onReturn = null;
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") onReturn?.(); });

export function rememberContact(leadId, mode) {
  sessionStorage.setItem(CONTACT_KEY, JSON.stringify({ lead_id: leadId, mode, at: Date.now() }));
}

function pendingContact(leadId) {
  try {
    const c = JSON.parse(sessionStorage.getItem(CONTACT_KEY) || "null");
    return c && c.lead_id === leadId && Date.now() - c.at < 4 * 3600 * 1000 ? c : null;
  } catch { return null; }
}

function contactBar(lead, toast) {
  const c = lead.customer;
  if (!c?.phone) return null;
  return h("div", { class: "contact-bar", testid: "contact" },
    h("a", { href: `tel:${c.phone}`, testid: "contact-call", on: { click: () => rememberContact(lead.lead_id, "call") } }, t("ui.call")),
    h("a", { href: `sms:${c.phone}`, testid: "contact-sms", on: { click: () => rememberContact(lead.lead_id, "sms") } }, t("ui.sms")),
    c.wechat_id ? h("button", { type: "button", testid: "contact-wechat", on: { click: async () => {
      await navigator.clipboard?.writeText(c.wechat_id);
      rememberContact(lead.lead_id, "wechat");
      toast(t("ui.copied"));
    } } }, t("ui.copyWechat")) : null);
}

export async function detailView({ el, params, query, toast, quiet }) {
  const leadId = decodeURIComponent(params[0]);
  let formOpen = false;
  let stale = false;
  let shown = null;

  /** Back from a call (or SMS, WeChat): offer to log the follow-up, its contact mode preset. */
  function offerFollowUp() {
    const contact = pendingContact(leadId);
    const box = el.querySelector(".contact-offer");
    if (!contact || !box || formOpen || !shown?.allowed_actions.includes("log_follow_up")) return;
    clear(box, h("div", { class: "notice", testid: "follow-up-offer", data: { mode: contact.mode } }, t("ui.logCall"), " ",
      h("button", { class: "primary", testid: "follow-up-offer-log", on: { click: () => {
        sessionStorage.removeItem(CONTACT_KEY);
        clear(box);
        const formBox = el.querySelector(".form-box");
        actionButton(shown, "log_follow_up", formBox, { channel: contact.mode }).click();
      } } }, t("ui.logIt")),
      h("button", { class: "ghost", on: { click: () => { sessionStorage.removeItem(CONTACT_KEY); clear(box); } } }, t("ui.later"))));
  }
  onReturn = offerFollowUp;

  function markStale() {
    if (!stale) {
      stale = true;
      el.querySelector(".stale")?.removeAttribute("hidden");
    }
  }

  async function refresh() {
    if (formOpen) { markStale(); return; }  // never wipe what someone is typing: offer a reload instead
    let lead;
    try {
      lead = await get(`/v1/leads/${encodeURIComponent(leadId)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { if (formOpen) markStale(); else renderGone(); return; }
      throw err;
    }
    if (formOpen) { markStale(); return; }  // a form was opened while the lead was loading
    stale = false;
    shown = lead;
    render(lead);
    offerFollowUp();
  }

  function renderGone() {
    // The judged dealer may appeal a pseudo-defeat on a lead it no longer holds (the API allows it).
    const appeal = query.appeal === "1" && isManager();
    const box = h("div", { class: "actions" });
    clear(el, h("a", { class: "back", href: "#/leads" }, "← ", t("ui.back")),
      h("div", { class: "card", testid: "lead-gone", data: { leadId } }, h("p", {}, t("ui.notFound")), h("p", { class: "muted small" }, leadId),
        appeal ? [h("p", {}, t("ui.appealHint")), h("div", { class: "action-buttons" }, actionButton({ lead_id: leadId }, "appeal", box))] : null),
      box);
  }

  function actionButton(lead, action, box, preset = {}) {
    return h("button", { class: "action", testid: `action-${action}`, data: { action }, on: { click: async () => {
      el.querySelectorAll(".action-buttons button").forEach((b) => b.classList.toggle("active", b.dataset.action === action));
      formOpen = true;  // from the click on: a refresh under way must not re-render over the form
      let form;
      try {
        form = await actionForm(lead, action, {
          onDone: (result) => {
            formOpen = false;
            quiet?.(lead.lead_id);
            toast(result?.stage ? t("ui.actionDone", { action: code("action", action), stage: code("stage", result.stage) })
              : `${code("action", action)} · ${t("ui.done")}`);
            refresh().catch(() => {});
          },
          onCancel: () => { formOpen = false; clear(box); el.querySelectorAll(".action-buttons button").forEach((b) => b.classList.remove("active")); if (stale) refresh(); },
        });
      } catch (err) {
        formOpen = false;
        throw err;
      }
      clear(box, form);
      for (const [name, value] of Object.entries(preset)) { if (form.elements[name]) form.elements[name].value = value; }
      form.querySelector("input, select, textarea")?.focus();
      form.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } } }, code("action", action));
  }

  function render(lead) {
    const formBox = h("div", { class: "form-box" });
    const c = lead.customer;
    const clocks = [...lead.clocks].sort((a, b) => (Date.parse(a.deadline) || Infinity) - (Date.parse(b.deadline) || Infinity));
    clear(el,
      h("a", { class: "back", href: "#/leads" }, "← ", t("ui.back")),
      h("div", { class: "stale notice", hidden: true }, t("ui.leadChanged"),
        h("button", { class: "ghost", on: { click: () => { formOpen = false; refresh(); } } }, t("ui.reload"))),
      h("article", { class: "detail", testid: "lead-detail", data: { leadId: lead.lead_id, stage: lead.stage } },
        h("header", { class: "card detail-head" },
          h("div", { class: "row-title" }, h("h2", {}, c.name), gradeBadge(lead.grade), stageBadge(lead.stage),
            lead.sla_breached ? h("span", { class: "badge red" }, "SLA") : null),
          h("div", { class: "row-sub", testid: "lead-holder" }, [lead.dealer_name || lead.dealer_id, lead.consultant_name || lead.consultant_id,
            lead.region && code("region", lead.region)].filter(Boolean).join(" · ")),
          h("div", { class: "row-sub muted small" }, lead.lead_id),
          contactBar(lead, toast), h("div", { class: "contact-offer" }),
          isOem() ? h("a", { href: temporalUrl(lead.workflow_id), target: "_blank", rel: "noopener", class: "temporal", testid: "temporal-link" },
            t("ui.temporal"), " ↗") : null),

        h("section", { class: "card" }, h("h3", {}, t("ui.actions")),
          lead.allowed_actions.length
            ? h("div", { class: "action-buttons" }, lead.allowed_actions.map((a) => actionButton(lead, a, formBox)))
            : h("p", { class: "muted" }, t("ui.noActions")),
          formBox),

        h("div", { class: "columns" },
          h("div", {},
            clocks.length ? h("section", { class: "card" }, h("h3", {}, t("ui.clocks")),
              h("div", { class: "clock-list" }, clocks.map((k) => countdown(k)))) : null,
            h("section", { class: "card" }, h("h3", {}, t("ui.customer")),
              h("dl", { class: "facts" },
                fact(t("ui.phone"), h("a", { href: `tel:${c.phone}`, on: { click: () => rememberContact(lead.lead_id, "call") } }, c.phone)),
                fact(t("ui.city"), c.city), fact(t("ui.series"), c.series), fact(t("ui.model"), c.model),
                fact(t("ui.budget"), formatMoney(c.budget)), fact(t("ui.timeframe"), code("timeframe", c.timeframe)),
                fact(t("ui.channel"), code("channel", lead.channel)), fact(t("ui.createdAt"), formatTime(lead.created_at)))),
            h("section", { class: "card" }, h("h3", {}, t("ui.scoreExplained"), " ", h("span", { class: "big" }, lead.score ?? "—")),
              h("div", { class: "score-items" }, [...lead.score_items].sort((a, b) => b.points - a.points).map(scoreItem))),
            lead.dispatch ? dispatchTable(lead.dispatch) : null,
            lead.holdings.length ? h("section", { class: "card" }, h("h3", {}, t("ui.holdings")),
              h("ol", { class: "holdings" }, lead.holdings.map(holding))) : null),
          h("section", { class: "card" }, h("h3", {}, t("ui.timeline")),
            h("ol", { class: "timeline" }, [...lead.timeline].reverse().map(timelineItem))))));
  }

  await refresh();
  return {
    refresh,
    wants: (event, data) => data.lead_id === leadId,
  };
}

function fact(name, value) {
  return [h("dt", {}, name), h("dd", {}, value ?? "—")];
}

function scoreItem(item) {
  const share = item.max_points ? item.points / item.max_points : 0;
  return h("div", { class: "score-item", testid: "score-item", data: { name: item.name, dimension: item.dimension } },
    h("div", { class: "score-line" },
      h("span", {}, has("scoreItem", item.name) ? code("scoreItem", item.name) : item.name.replaceAll("_", " ")),
      h("span", { class: "muted small" }, code("dimension", item.dimension)),
      h("span", { class: "points" }, `${round(item.points)} / ${round(item.max_points)}`)),
    h("div", { class: "load" }, h("div", { class: "load-bar", style: { width: `${Math.round(share * 100)}%` } })),
    h("div", { class: "muted small" }, item.text || item.reason));
}

function holding(x) {
  return h("li", {}, h("strong", {}, x.dealer_id), " ", formatTime(x.started_at), " → ",
    x.ended_at ? formatTime(x.ended_at) + (x.end_reason ? t("ui.inParens", { text: message("holding_end." + x.end_reason) }) : "") : t("ui.holdingOpen"),
    x.dispatch_reason ? h("div", { class: "muted small" }, x.dispatch_reason) : null);
}

/** One sentence per entry (rendered by the API in the reader's language); the OEM may open the details. */
function timelineItem(e) {
  const data = Object.entries(e.data || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length));
  return h("li", { class: "timeline-item", testid: "timeline-item", data: { kind: e.kind, seq: e.seq } },
    h("div", { class: "row-title" }, h("strong", {}, eventName(e.kind)), h("span", { class: "muted small" }, formatTime(e.at))),
    h("div", { class: "timeline-text", testid: "timeline-text" }, e.text || eventName(e.kind)),
    isOem() && data.length ? h("details", { class: "event-data small" }, h("summary", {}, message("dispatch.details")),
      h("dl", {}, data.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, show(v))]))) : null);
}

/** The latest dispatch as a small table of this dealer's own factors (a dealer sees nothing of the others). */
function dispatchTable(line) {
  const rank = line.rank ?? "?";
  return h("section", { class: "card", testid: "dispatch-table" }, h("h3", {}, t("ui.dispatchReason")),
    h("p", { class: "muted small" }, message(line.total == null ? "dispatch.line" : "dispatch.line_total",
      { rank, considered: line.considered, total: line.total == null ? "" : line.total.toFixed(2) })),
    h("table", { class: "factors" },
      h("thead", {}, h("tr", {}, h("th", {}, message("dispatch.factor")), h("th", {}, message("dispatch.value")))),
      h("tbody", {}, Object.entries(line.factors || {}).map(([name, value]) =>
        h("tr", {}, h("td", {}, message(`dispatch.factor.${name}`)), h("td", {}, `${Math.round(value * 100)}%`))))));
}

function show(value) {
  if (typeof value === "object") {
    const text = JSON.stringify(value);
    return text.length > 160 ? text.slice(0, 157) + "…" : text;
  }
  return String(value);
}

function round(n) {
  return Math.round(n * 10) / 10;
}
