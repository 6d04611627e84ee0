// The OEM console: review queues with their deadlines, and the dashboards (SPEC 8) drillable by
// region, dealer, series and channel: a click on a bar or a row sets that filter.

import { ApiError, get } from "../api.js";
import { barChart, lineChart } from "../charts.js";
import { clear, h } from "../dom.js";
import { code, formatMoney, formatPercent, formatTime, t } from "../i18n.js";
import { dealerList, enumValues } from "../session.js";
import { queueRow, searchBox, withQuery } from "./lists.js";

// ------------------------------------------------------------------ queues

export async function queuesView({ el }) {
  const list = h("div", { class: "queue-cards" });
  clear(el, h("h2", {}, t("nav.queues")), searchBox(), list);

  async function refresh() {
    const queues = await get("/v1/queues");
    clear(list, queues.length ? queues.map((q) => h("a", { class: "card queue-card" + (q.overdue ? " breached" : ""),
      href: `#/queues/${q.queue}`, testid: "queue-card", data: { queue: q.queue } },
    h("h3", {}, code("queue", q.queue)),
    h("div", { class: "queue-figures" },
      h("span", {}, h("b", {}, q.waiting), " ", t("ui.waiting")),
      h("span", { class: q.overdue ? "red" : "" }, h("b", {}, q.overdue), " ", t("ui.overdueCount"))),
    q.oldest_since ? h("div", { class: "muted small" }, t("ui.oldest"), " ", formatTime(q.oldest_since)) : null))
      : h("p", { class: "empty" }, t("ui.empty")));
  }
  await refresh();
  return { refresh };
}

export async function queueView({ el, params }) {
  const queue = decodeURIComponent(params[0]);
  const list = h("div", { class: "list" });
  clear(el, h("a", { class: "back", href: "#/queues" }, "← ", t("nav.queues")), h("h2", {}, code("queue", queue)), list);

  async function refresh() {
    const items = await get(`/v1/queues/${encodeURIComponent(queue)}`, { limit: 200 });
    clear(list, items.length ? items.map((item) => queueRow(item, queue)) : h("p", { class: "empty" }, t("ui.empty")));
  }
  await refresh();
  return { refresh };
}

// ------------------------------------------------------------------ dashboards

const PERIODS = { month: 1, "3m": 3, "12m": 12 };
const SHOWN_CARDS = 15;  // the best ones; the rest on demand

/** The first day of the month `back` months before this one, as YYYY-MM-DD (the API reads it as Shanghai time). */
function monthStart(back) {
  const now = new Date();
  const d = new Date(now.getFullYear(), now.getMonth() - back, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-01`;
}

export async function dashboardsView({ el, query }) {
  const f = { region: query.region || "", dealer_id: query.dealer_id || "", series: query.series || "",
    channel: query.channel || "", period: PERIODS[query.period] ? query.period : "month" };
  const go = (change) => { location.hash = withQuery("/dashboards", { ...f, ...change }); };
  const [dealers, channels] = await Promise.all([dealerList(), enumValues("Channel")]);
  const regions = [...new Set(dealers.map((d) => d.region))].sort();
  const series = [...new Set(dealers.flatMap((d) => d.series))].sort();
  const dealerName = Object.fromEntries(dealers.map((d) => [d.id, d.name]));

  const pick = (testid, name, options, value, key) => {
    const el = h("select", { testid, name, on: { change: (e) => go({ [key]: e.target.value }) } },
      h("option", { value: "" }, `${t("ui." + name)}: ${t("ui.all")}`), options.map(([v, label]) => h("option", { value: v }, label)));
    el.value = value;
    return el;
  };
  const periodSelect = h("select", { testid: "filter-period", on: { change: (e) => go({ period: e.target.value }) } },
    h("option", { value: "month" }, t("ui.thisMonth")), h("option", { value: "3m" }, t("ui.last3")), h("option", { value: "12m" }, t("ui.last12")));
  periodSelect.value = f.period;
  const filters = h("div", { class: "filters" }, periodSelect,
    pick("filter-region", "region", regions.map((r) => [r, r]), f.region, "region"),
    pick("filter-dealer", "dealer", dealers.map((d) => [d.id, d.name]), f.dealer_id, "dealer_id"),
    pick("filter-series", "series", series.map((s) => [s, s]), f.series, "series"),
    pick("filter-channel", "channel", channels.map((c) => [c, code("channel", c)]), f.channel, "channel"),
    Object.entries(f).some(([k, v]) => k !== "period" && v) ? h("a", { class: "chip", href: withQuery("/dashboards", { period: f.period }) }, t("ui.clear"), " ✕") : null);

  const boxes = {
    funnel: h("section", { class: "card" }), sla: h("section", { class: "card" }), scorecards: h("section", { class: "card wide" }),
    channels: h("section", { class: "card" }), dispatch: h("section", { class: "card" }), reviews: h("section", { class: "card" }),
  };
  clear(el, h("h2", {}, t("nav.dashboards")), filters, h("p", { class: "muted small" }, t("ui.drillHint")),
    h("div", { class: "dash-grid" }, Object.values(boxes)));

  const period = { from: monthStart(PERIODS[f.period] - 1) };
  const common = { ...period, region: f.region, dealer_id: f.dealer_id, series: f.series, channel: f.channel };
  const leadsLink = (extra) => withQuery("/leads", { region: f.region, dealer_id: f.dealer_id, series: f.series, channel: f.channel, open: "0", ...extra });

  const sections = {
    async funnel() {
      const r = await get("/v1/dashboards/funnel", common);
      const steps = r.steps.filter((s) => s.stage !== "new");
      return [h("h3", {}, t("ui.funnel"), h("span", { class: "muted small" }, " ", t("ui.total", { n: r.leads }))),
        barChart({ testid: "chart-funnel", items: steps.map((s) => ({ key: s.stage,
          label: s.stage === "cleansing" ? t("ui.pastIntake") : code("stage", s.stage),  // every lead past intake
          bars: [{ value: s.leads, text: `${s.leads} · ${formatPercent(s.conversion_from_top)}` }] })) }),
        h("div", { class: "chips" }, r.current_stages.filter((s) => s.leads).map((s) =>
          h("a", { class: "chip", href: leadsLink({ stage: s.stage }) }, `${code("stage", s.stage)} ${s.leads}`)))];
    },
    async sla() {
      const r = await get("/v1/dashboards/sla", { ...common, bucket: "week" });
      const xs = [...new Set(r.series.map((p) => p.bucket_start))].sort();
      const byClock = {};
      for (const p of r.series) (byClock[p.clock] ||= []).push({ x: p.bucket_start, y: p.compliance });
      const lines = Object.entries(byClock).filter(([, pts]) => pts.some((p) => p.y !== null))
        .map(([clock, points]) => ({ name: code("clock", clock), points }));
      const measured = r.clocks.filter((c) => c.met + c.lapsed > 0);
      return [h("h3", {}, t("ui.sla"), h("span", { class: "muted small" }, " ", t("ui.compliance"), " ", formatPercent(r.overall.compliance))),
        lineChart({ testid: "chart-sla", xs: xs.map((x) => x.slice(5)), lines: lines.map((l) => ({ ...l, points: l.points.map((p) => ({ x: p.x.slice(5), y: p.y })) })) }),
        h("h4", {}, t("ui.slaByClock")),
        barChart({ testid: "chart-sla-clocks", items: measured.map((c) => ({ key: c.clock, label: code("clock", c.clock),
          bars: [{ value: c.compliance ?? 0, text: `${formatPercent(c.compliance)} (${c.lapsed} ${t("ui.lapsed")})` }] })),
        onPick: (clock) => { location.hash = leadsLink({ breached_clock: clock }); } })];
    },
    async scorecards() {
      const r = await get("/v1/dashboards/scorecards", { ...period, region: f.region, dealer_id: f.dealer_id });
      const names = r.dealers[0]?.measures.map((m) => m.name) || [];
      return [h("h3", {}, t("ui.scorecards")),
        h("div", { class: "table-wrap" }, h("table", { testid: "table-scorecards" },
          h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, t("ui.dealer")), h("th", {}, t("ui.region")),
            h("th", {}, t("ui.totalScore")), h("th", {}, t("ui.received")), names.map((n) => h("th", { class: "hide-sm" }, code("measure", n))))),
          h("tbody", {}, r.dealers.map((d, i) => h("tr", { testid: "scorecard-row", data: { dealerId: d.dealer_id },
            class: "pickable" + (i >= SHOWN_CARDS ? " more" : ""), hidden: i >= SHOWN_CARDS,
            on: { click: (e) => { if (e.target.closest("[data-region]")) return; go({ dealer_id: d.dealer_id }); } } },
          h("td", {}, d.rank ?? "—"), h("td", {}, d.dealer_name),
          h("td", { data: { region: d.region }, on: { click: () => go({ region: d.region }) }, class: "link" }, d.region),
          h("td", {}, h("b", {}, d.total)), h("td", {}, d.received_leads),
          d.measures.map((m) => h("td", { class: "hide-sm", title: m.definition }, formatPercent(m.value)))))))),
        r.dealers.length > SHOWN_CARDS ? h("button", { class: "ghost wide", testid: "scorecards-all", on: { click: (e) => {
          e.target.closest("section").querySelectorAll("tr.more").forEach((tr) => { tr.hidden = false; });
          e.target.remove();
        } } }, t("ui.showAll", { n: r.dealers.length })) : null];
    },
    async channels() {
      const r = await get("/v1/dashboards/channels", common);
      const rows = r.channels.filter((c) => c.raw_leads);
      return [h("h3", {}, t("ui.channels"), h("span", { class: "muted small" }, " ", formatMoney(r.total.acquisition_cost))),
        barChart({ testid: "chart-channels", series: [{ name: t("ui.costPerLead") }, { name: t("ui.costPerDeal") }],
          items: rows.map((c) => ({ key: c.channel, label: code("channel", c.channel),
            bars: [{ value: c.cost_per_lead ?? 0, text: formatMoney(c.cost_per_lead) }, { value: c.cost_per_deal ?? 0, text: formatMoney(c.cost_per_deal) }] })),
          onPick: (channel) => go({ channel }) }),
        h("div", { class: "muted small" }, rows.map((c) => `${code("channel", c.channel)}: ${c.raw_leads} ${t("ui.rawLeads")}, ${c.leads} ${t("ui.leads")}, ${c.won_leads} ${t("ui.won")}`).join(" · "))];
    },
    async dispatch() {
      const byDealer = !!f.region;
      const r = await get("/v1/dashboards/dispatch", { ...common, group_by: byDealer ? "dealer" : "region" });
      return [h("h3", {}, t("ui.dispatch"), h("span", { class: "muted small" }, " ", formatPercent(r.total.match_rate))),
        barChart({ testid: "chart-dispatch", items: r.groups.map((g) => ({ key: g.key, label: byDealer ? (dealerName[g.key] || g.key) : g.key,
          bars: [{ value: g.match_rate ?? 0, text: `${formatPercent(g.match_rate)} (${g.matched}/${g.started})` }] })),
        onPick: (key) => go(byDealer ? { dealer_id: key } : { region: key }) })];
    },
    async reviews() {
      const r = await get("/v1/dashboards/reviews", common);
      return [h("h3", {}, t("ui.reviews")),
        h("div", { class: "table-wrap" }, h("table", { testid: "table-reviews" },
          h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, t("ui.openNow")), h("th", {}, t("ui.decided")),
            h("th", {}, t("ui.avgHours")), h("th", {}, t("ui.maxHours")))),
          h("tbody", {}, r.queues.map((q) => h("tr", {}, h("td", {}, h("a", { href: `#/queues/${q.queue}` }, code("queue", q.queue))),
            h("td", {}, q.open_now), h("td", {}, q.decided), h("td", {}, hours(q.avg_hours)), h("td", {}, hours(q.max_hours)))))))];
    },
  };

  async function refresh() {
    await Promise.all(Object.entries(sections).map(async ([name, build]) => {
      try {
        clear(boxes[name], await build());
      } catch (err) {
        clear(boxes[name], h("div", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
      }
    }));
  }
  await refresh();
  return { refresh, minInterval: 30000 };  // figures move slowly: refreshed on live events at most twice a minute
}

function hours(v) {
  return v === null || v === undefined ? "—" : (Math.round(v * 10) / 10).toString();
}
