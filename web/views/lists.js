// Lists people work from: my leads (or, for the OEM, all leads with filters), the dealer's public pool,
// the inbox, and a manager's team. Every list is what the API answers for the signed-in user.

import { ApiError, get, post } from "../api.js";
import { countdown } from "../countdown.js";
import { clear, h } from "../dom.js";
import { actionPath } from "../forms.js";
import { code, formatPercent, formatTime, noticeName, t } from "../i18n.js";
import { END_STAGES, dealerList, enumValues, isDealer, isManager, isOem, session } from "../session.js";
import { currentSubscription, pushSupported, subscribe, unsubscribe } from "../push.js";

const PAGE = 50;

// ------------------------------------------------------------------ shared pieces

/** Find a customer (GET /v1/leads?q=): on every list page; it opens the leads list with the search. */
export function searchBox(value = "") {
  const input = h("input", { type: "search", name: "q", value, testid: "search", enterkeyhint: "search",
    placeholder: t("ui.searchHint"), "aria-label": t("ui.search") });
  return h("form", { class: "search", role: "search", on: { submit: (e) => {
    e.preventDefault();
    const q = input.value.trim();
    location.hash = q ? withQuery("/leads", { q, open: "0" }) : "#/leads";
  } } }, input, h("button", { type: "submit", class: "ghost" }, t("ui.search")));
}

export function stageBadge(stage) {
  return h("span", { class: `badge stage stage-${stage}` }, code("stage", stage));
}

export function gradeBadge(grade) {
  return grade ? h("span", { class: `badge grade grade-${grade}` }, grade) : null;
}

/** Fills each row's clock box with a countdown per open clock (GET /v1/clocks, one call per page). */
async function fillClocks(container, leadIds) {
  if (!leadIds.length) return;
  let answer = [];
  try {
    answer = await get("/v1/clocks", { lead_id: leadIds });
  } catch { return; }
  for (const { lead_id, clocks } of answer) {
    const box = container.querySelector(`[data-clocks-for="${CSS.escape(lead_id)}"]`);
    if (!box) continue;
    const sorted = [...clocks].sort((a, b) => (Date.parse(a.deadline) || Infinity) - (Date.parse(b.deadline) || Infinity));
    clear(box, sorted.map((c) => countdown(c)));
  }
}

export function leadRow(lead, { testid = "lead-row" } = {}) {
  const who = [
    isOem() && lead.dealer_id ? lead.dealer_id : null,
    lead.consultant_id ? lead.consultant_id : null,
  ].filter(Boolean).join(" · ");
  return h("a", { class: "row" + (lead.sla_breached ? " breached" : ""), href: `#/leads/${encodeURIComponent(lead.lead_id)}`,
    testid, data: { leadId: lead.lead_id, stage: lead.stage } },
  h("div", { class: "row-main" },
    h("div", { class: "row-title" }, h("strong", {}, lead.customer_name), gradeBadge(lead.grade), stageBadge(lead.stage)),
    h("div", { class: "row-sub" }, [lead.phone_masked, lead.series, lead.city, code("channel", lead.channel)].filter(Boolean).join(" · ")),
    who ? h("div", { class: "row-sub" }, who) : null),
  h("div", { class: "row-clocks", data: { clocksFor: lead.lead_id } }));
}

function errorCard(err, retry) {
  return h("div", { class: "card error", role: "alert" }, err instanceof ApiError ? err.message : String(err),
    retry ? h("button", { class: "ghost", on: { click: retry } }, t("ui.retry")) : null);
}

function select(testid, name, options, value, onChange) {
  const el = h("select", { testid, name, on: { change: (e) => onChange(e.target.value) } },
    h("option", { value: "" }, t(`ui.${name}`) + ": " + t("ui.all")),
    options.map((o) => h("option", { value: o.value }, o.label)));
  el.value = value || "";
  return el;
}

function toggle(testid, text, checked, onChange) {
  return h("label", { class: "chip" }, h("input", { type: "checkbox", testid, checked, on: { change: (e) => onChange(e.target.checked) } }), text);
}

/** The hash with new query values (empty ones dropped). */
export function withQuery(path, query) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") search.set(k, v);
  const text = search.toString();
  return `#${path}${text ? "?" + text : ""}`;
}

// ------------------------------------------------------------------ my leads / all leads

export async function leadsView({ el, query }) {
  const filters = { open: query.open ?? "1", breached: query.breached ?? "", stage: query.stage ?? "", region: query.region ?? "",
    dealer_id: query.dealer_id ?? "", series: query.series ?? "", channel: query.channel ?? "", grade: query.grade ?? "",
    consultant_id: query.consultant_id ?? "", breached_clock: query.breached_clock ?? "", q: query.q ?? "" };
  const go = (change) => { location.hash = withQuery("/leads", { ...filters, ...change }); };
  const stages = await enumValues("LeadStage");
  const channels = await enumValues("Channel");
  const dealers = isOem() ? await dealerList() : [];
  const bar = h("div", { class: "filters" },
    toggle("filter-open", t("ui.openOnly"), filters.open === "1", (v) => go({ open: v ? "1" : "0" })),
    toggle("filter-breached", t("ui.breachedOnly"), filters.breached === "1", (v) => go({ breached: v ? "1" : "" })),
    select("list-filter-stage", "stage", stages.map((s) => ({ value: s, label: code("stage", s) })), filters.stage, (v) => go({ stage: v })),
    isOem() ? [
      select("list-filter-region", "region", unique(dealers.map((d) => d.region)).map((r) => ({ value: r, label: code("region", r) })), filters.region, (v) => go({ region: v })),
      select("list-filter-dealer", "dealer", dealers.map((d) => ({ value: d.id, label: d.name })), filters.dealer_id, (v) => go({ dealer_id: v })),
      select("list-filter-series", "series", unique(dealers.flatMap((d) => d.series)).map((s) => ({ value: s, label: s })), filters.series, (v) => go({ series: v })),
      select("list-filter-channel", "channel", channels.map((c) => ({ value: c, label: code("channel", c) })), filters.channel, (v) => go({ channel: v })),
    ] : null,
    filters.consultant_id || filters.breached_clock
      ? h("a", { class: "chip", href: "#/leads" }, [filters.consultant_id, code("clock", filters.breached_clock || "")].filter((x) => x && x !== "—").join(" · "), " ✕")
      : null);

  const approvals = h("div");
  const list = h("div", { class: "list" });
  const count = h("div", { class: "muted small" });
  const more = h("button", { class: "ghost wide", hidden: true }, t("ui.more"));
  clear(el, h("h2", {}, isDealer() ? t("nav.leads") : t("nav.leadsOem")), searchBox(filters.q), approvals, bar, count, list, more);

  const params = (offset) => ({
    sort: "next_deadline", limit: PAGE, offset,
    stage: filters.stage ? [filters.stage] : filters.open === "1" ? stages.filter((s) => !END_STAGES.has(s)) : undefined,
    sla_breached: filters.breached === "1" ? true : undefined,
    region: filters.region, dealer_id: filters.dealer_id, series: filters.series, channel: filters.channel,
    grade: filters.grade ? [filters.grade] : undefined, consultant_id: filters.consultant_id, breached_clock: filters.breached_clock,
    q: filters.q,
  });

  async function load(offset = 0) {
    const page = await get("/v1/leads", params(offset));
    if (offset === 0) list.replaceChildren();
    const rows = page.items.map((lead) => leadRow(lead));
    list.append(...rows);
    if (!page.total) list.append(h("p", { class: "empty" }, t("ui.empty")));
    count.textContent = t("ui.total", { n: page.total });
    more.hidden = page.next_offset === null;
    more.onclick = () => load(page.next_offset).catch((err) => list.append(errorCard(err)));
    fillClocks(list, page.items.map((l) => l.lead_id));
  }

  async function refresh() {
    await Promise.all([load(0), isManager() ? loadApprovals(approvals) : null]);
  }
  await refresh();
  return { refresh };
}

/** A dealer manager's decisions waiting: defeat applications and order cancellations. */
async function loadApprovals(box) {
  const queues = (await get("/v1/queues")).filter((q) => q.queue !== "public_pool" && q.waiting > 0);
  const sections = await Promise.all(queues.map(async (q) => {
    const items = await get(`/v1/queues/${q.queue}`);
    return h("div", { class: "approval" }, h("h4", {}, code("queue", q.queue), h("span", { class: "badge count" }, q.waiting)),
      items.map((item) => queueRow(item, q.queue)));
  }));
  clear(box, sections.length ? h("section", { class: "card approvals" }, h("h3", {}, t("ui.approvals")), sections) : null);
}

export function queueRow(item, queue) {
  const lead = item.lead;
  const clock = { name: queue, started_at: item.since, deadline: item.deadline, paused: false };
  return h("a", { class: "row" + (item.overdue ? " breached" : ""), href: `#/leads/${encodeURIComponent(lead.lead_id)}`,
    testid: "queue-row", data: { leadId: lead.lead_id, queue } },
  h("div", { class: "row-main" },
    h("div", { class: "row-title" }, h("strong", {}, lead.customer_name), gradeBadge(lead.grade), stageBadge(lead.stage)),
    h("div", { class: "row-sub" }, [lead.dealer_id, lead.series, lead.city, lead.region && code("region", lead.region)].filter(Boolean).join(" · ")),
    requestSummary(item.request)),
  h("div", { class: "row-clocks" }, item.deadline ? countdown(clock) : h("span", { class: "muted small" }, t("ui.since") + " " + formatTime(item.since))));
}

function requestSummary(request) {
  if (!request || !Object.keys(request).length) return null;
  const shown = ["reason", "reason_code", "text", "note", "evidence", "requested_by", "dealer_id"]
    .filter((k) => request[k]).map((k) => `${t(k === "dealer_id" ? "ui.dealer" : "field." + k)}: ${k.startsWith("reason") ? code("enum", request[k]) : request[k]}`);
  return shown.length ? h("div", { class: "row-sub request" }, shown.join(" · ")) : null;
}

function unique(values) {
  return [...new Set(values.filter(Boolean))].sort();
}

// ------------------------------------------------------------------ public pool

export async function poolView({ el, navigate, toast }) {
  const list = h("div", { class: "list" });
  clear(el, h("h2", {}, t("nav.pool")), searchBox(), list);

  async function refresh() {
    const items = await get("/v1/queues/public_pool");
    // Whether this user may claim comes from the API (the lead's allowed actions), not from the page.
    const details = await Promise.all(items.map((i) => get(`/v1/leads/${encodeURIComponent(i.lead.lead_id)}`).catch(() => null)));
    clear(list, items.length ? items.map((item, i) => poolRow(item, details[i]?.allowed_actions || [])) : h("p", { class: "empty" }, t("ui.poolEmpty")));
  }

  function poolRow(item, allowed) {
    const lead = item.lead;
    const error = h("div", { class: "form-error", testid: "action-error", hidden: true });
    const claim = allowed.includes("claim") ? h("button", { class: "primary", testid: "claim", on: { click: async (e) => {
      e.preventDefault();
      e.stopPropagation();
      e.target.disabled = true;
      try {
        await post(actionPath(lead.lead_id, "claim"), {});
        toast(t("ui.claimed"));
        navigate(`#/leads/${encodeURIComponent(lead.lead_id)}`);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        e.target.disabled = false;
      }
    } } }, t("ui.claim")) : null;
    return h("div", { class: "row", testid: "pool-row", data: { leadId: lead.lead_id } },
      h("a", { class: "row-main", href: `#/leads/${encodeURIComponent(lead.lead_id)}` },
        h("div", { class: "row-title" }, h("strong", {}, lead.customer_name), gradeBadge(lead.grade)),
        h("div", { class: "row-sub" }, [lead.phone_masked, lead.series, lead.city, code("channel", lead.channel)].filter(Boolean).join(" · ")),
        h("div", { class: "row-sub" }, t("ui.since") + " " + formatTime(item.since)), error),
      h("div", { class: "row-actions" }, claim));
  }

  await refresh();
  return { refresh };
}

// ------------------------------------------------------------------ inbox

// Read state lives on the server: a row stays unread until it is opened (or "mark all read"), on any device.
export async function inboxView({ el, onRead }) {
  const list = h("div", { class: "list" });
  const readAll = h("button", { class: "secondary small", testid: "inbox-read-all", on: { click: async () => {
    readAll.disabled = true;
    try { await post("/v1/inbox/read-all", {}); } catch { /* shown as it was */ }
    readAll.disabled = false;
    await refresh();
    onRead?.();
  } } }, t("ui.readAll"));
  clear(el, h("h2", {}, t("nav.inbox")), searchBox(), h("div", { class: "row-actions" }, pushToggle(), readAll), list);

  async function refresh() {
    const items = await get("/v1/inbox", { limit: 200 });
    clear(list, items.length ? items.map((n) => inboxItem(n, onRead)) : h("p", { class: "empty" }, t("ui.inboxEmpty")));
    readAll.hidden = !items.some((n) => !n.read_at);
  }
  await refresh();
  return { refresh };
}

// Web Push on this device: a button that subscribes or unsubscribes (web/push.js); hidden where unsupported.
function pushToggle() {
  const button = h("button", { class: "secondary small", testid: "push-toggle", hidden: !pushSupported() });
  const show = async () => { button.textContent = (await currentSubscription()) ? t("ui.pushOff") : t("ui.pushOn"); };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { if (await currentSubscription()) await unsubscribe(); else await subscribe(); } catch { /* denied or not configured */ }
    button.disabled = false;
    await show();
  });
  if (pushSupported()) show();
  return button;
}

function inboxItem(note, onRead) {
  const unread = !note.read_at;
  // A pseudo-defeat verdict takes the lead away; the judged dealer may still appeal it from here.
  const appeal = note.kind === "pseudo_defeat" && isManager() ? "?appeal=1" : "";
  // The working-day calendar's alerts are the year's, not a lead's (lead_id "calendar-2027"): open the calendar.
  const year = /^calendar-(\d{4})$/.exec(note.lead_id)?.[1];
  // Owner care's tasks and overdue alerts are an ownership's (lead_id "owner-<lead id>"): open the owner's card.
  const owner = note.lead_id.startsWith("owner-") ? `#/owners/${encodeURIComponent(note.lead_id)}` : null;
  const href = year ? `#/calendar?year=${year}` : owner || `#/leads/${encodeURIComponent(note.lead_id)}${appeal}`;
  // opening it marks it read on the server: an SLA alert read in time is not escalated to the next channel
  const read = () => { if (!note.read_at) post(`/v1/inbox/${note.id}/read`).then(() => onRead?.(), () => {}); };
  return h("a", { class: "row inbox" + (unread ? " unread" : ""), href, onclick: read,
    testid: "inbox-item", data: { kind: note.kind, leadId: note.lead_id, unread: unread ? "1" : "0" } },
  h("div", { class: "row-main" },
    h("div", { class: "row-title" }, h("strong", {}, note.customer_name || noticeName(note.kind)),
      note.grade ? gradeBadge(note.grade) : null, note.stage ? stageBadge(note.stage) : null,
      note.repeats > 1 ? h("span", { class: "badge", testid: "inbox-repeats" }, `×${note.repeats}`) : null,
      h("span", { class: "muted small" }, formatTime(note.created_at))),
    h("div", { class: "row-sub" }, note.customer_name ? [h("strong", {}, noticeName(note.kind)), " · ", note.text || note.message] : (note.text || note.message))));
}

// ------------------------------------------------------------------ team (dealer manager)

export async function teamView({ el }) {
  const dealer = session.me.dealer_id;
  const team = h("div", { class: "list" });
  const card = h("div");
  const breaches = h("div", { class: "list" });
  clear(el, h("h2", {}, t("nav.team")), searchBox(), card, team, h("h3", {}, t("ui.teamBreaches")), breaches);

  async function refresh() {
    const stages = await enumValues("LeadStage");
    const [people, scorecards, breached] = await Promise.all([
      get(`/v1/dealers/${encodeURIComponent(dealer)}/consultants`),
      get("/v1/dashboards/scorecards").catch(() => null),
      get("/v1/leads", { sla_breached: true, sort: "next_deadline", limit: PAGE, stage: stages.filter((s) => !END_STAGES.has(s)) }),
    ]);
    clear(team, people.map(teamRow));
    const mine = scorecards?.dealers?.[0];
    clear(card, mine ? h("div", { class: "card scorecard" },
      h("div", { class: "row-title" }, h("strong", {}, t("ui.myScorecard")), h("span", { class: "big" }, mine.total),
        h("span", { class: "muted" }, mine.rank == null ? t("ui.unranked") : t("ui.rank", { r: mine.rank, n: mine.ranked_out_of }))),
      h("div", { class: "measures" }, mine.measures.map((m) => h("span", { class: "measure" }, `${code("measure", m.name)} ${formatPercent(m.value)}`)))) : null);
    clear(breaches, breached.items.length ? breached.items.map((l) => leadRow(l)) : h("p", { class: "empty" }, t("ui.empty")));
    fillClocks(breaches, breached.items.map((l) => l.lead_id));
  }

  function teamRow(c) {
    const share = c.max_open_leads ? Math.min(1, c.open_leads / c.max_open_leads) : 0;
    return h("a", { class: "row team" + (c.breached_leads ? " breached" : ""), href: withQuery("/leads", { consultant_id: c.user_id, open: "1" }),
      testid: "team-row", data: { userId: c.user_id } },
    h("div", { class: "row-main" },
      h("div", { class: "row-title" }, h("strong", {}, c.name), h("span", { class: "badge " + (c.on_duty ? "ok" : "muted") }, c.on_duty ? t("ui.onDuty") : t("ui.offDuty"))),
      h("div", { class: "load" }, h("div", { class: "load-bar", style: { width: `${Math.round(share * 100)}%` } })),
      h("div", { class: "row-sub" }, `${t("ui.openLeads")} ${c.open_leads} / ${t("ui.capacity")} ${c.max_open_leads}`)),
    h("div", { class: "row-actions" }, h("span", { class: "badge " + (c.breached_leads ? "red" : "ok"), testid: "team-breached" },
      `${t("ui.breached")} ${c.breached_leads}`)));
  }

  await refresh();
  return { refresh };
}
