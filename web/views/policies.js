// Policies (OEM console, lead ops; issue 16): the versions with their diff and audit, a draft (changes over the
// active version, checked by the API: a 422 names the key path), approval by the head of lead ops (not the
// draft's author), moving running leads to the active version, and the what-if simulator: a version over the
// last N days of recorded leads, with a progress bar, charts of reality against the draft, the assumptions,
// and the leads that differ with why.

import { ApiError, get, request } from "../api.js";
import { barChart } from "../charts.js";
import { clear, h } from "../dom.js";
import { code, formatTime, t } from "../i18n.js";
import { session } from "../session.js";

export const canManagePolicies = (me) => ["lead_ops", "head_of_lead_ops"].includes(me?.role);

export async function policiesView({ el, query }) {
  const me = session.me;
  const note = h("p", { class: "muted", testid: "policy-note" });
  const versions = h("div", { class: "list", testid: "policy-versions" });
  const reason = h("input", { type: "text", maxlength: 2000, testid: "policy-reason", placeholder: t("policy.reason") });
  const changes = h("textarea", { rows: 5, testid: "policy-changes", placeholder: '{"clocks": {"receipt": "1h"}}' });
  const simVersion = h("input", { type: "number", min: 1, testid: "sim-version", value: query.version || "" });
  const simDays = h("input", { type: "number", min: 1, max: 366, value: 30, testid: "sim-days" });
  const bar = h("div", { class: "progress", testid: "sim-progress" }, h("div", { class: "progress-fill", style: { width: "0%" } }));
  const barText = h("span", { class: "muted small", testid: "sim-progress-text" });
  const result = h("div", { testid: "sim-report" });
  const migQuery = h("input", { type: "text", testid: "migrate-query", placeholder: "Region='East' AND LeadStage='dispatched'" });
  const migReason = h("input", { type: "text", testid: "migrate-reason", placeholder: t("policy.reason") });

  const act = (fn) => async () => {
    note.textContent = "";
    try { await fn(); await refresh(); } catch (err) { note.textContent = err instanceof ApiError ? err.message : String(err); }
  };

  clear(el, h("h2", {}, t("nav.policies")), note,
    versions,
    h("h3", {}, t("policy.newDraft")), reason, changes,
    h("div", { class: "row" }, h("button", { testid: "policy-draft", on: { click: act(async () => {
      let parsed;
      try { parsed = JSON.parse(changes.value || "{}"); } catch (e) { throw new Error(t("policy.badJson")); }
      const made = await request("POST", "/v1/policies/drafts", { body: { reason: reason.value, changes: parsed } });
      note.textContent = t("policy.drafted", { v: made.version });
      simVersion.value = made.version;
    }) } }, t("ui.submit"))),
    h("h3", {}, t("policy.migrate")), migQuery, migReason,
    h("div", { class: "row" }, h("button", { testid: "migrate-go", on: { click: act(async () => {
      const list = await get("/v1/policies");
      const active = list.find((v) => v.status === "active");
      const answer = await request("POST", `/v1/policies/${active.version}/migrations`,
        { body: { query: migQuery.value, reason: migReason.value } });
      note.textContent = t("policy.migrated", { n: answer.leads, v: answer.version });
    }) } }, t("ui.submit"))),
    h("h3", {}, t("policy.simulate")),
    h("div", { class: "row" }, h("label", {}, t("policy.version"), " ", simVersion), h("label", {}, t("policy.days"), " ", simDays),
      h("button", { testid: "sim-start", on: { click: () => simulate() } }, t("policy.run"))),
    h("div", { class: "row" }, bar, barText), result);

  async function simulate() {
    note.textContent = "";
    clear(result);
    let run;
    try {
      run = await request("POST", "/v1/simulations", { body: { version: Number(simVersion.value), days: Number(simDays.value) } });
    } catch (err) { note.textContent = err instanceof ApiError ? err.message : String(err); return; }
    while (run.status === "running") {
      const pct = run.total ? Math.round((100 * run.done) / run.total) : 0;
      bar.firstChild.style.width = `${pct}%`;
      barText.textContent = `${run.done.toLocaleString()} / ${run.total.toLocaleString()}`;
      await new Promise((r) => setTimeout(r, 500));
      run = await get(`/v1/simulations/${run.id}`);
    }
    bar.firstChild.style.width = "100%";
    barText.textContent = `${run.done.toLocaleString()} / ${run.total.toLocaleString()}`;
    if (run.status === "failed") { note.textContent = run.error; return; }
    showReport(run.report);
  }

  // a chart's keys are codes (clocks, stages) or ids (dealers, grades): codes are named in the reader's language
  function pair(real, draft, top = 15, order = (a, b) => Math.abs(b.d - b.r) - Math.abs(a.d - a.r), section = null) {
    const keys = [...new Set([...Object.keys(real), ...Object.keys(draft)])];
    return keys.map((k) => ({ k, r: real[k] || 0, d: draft[k] || 0 })).sort(order).slice(0, top)
      .map(({ k, r, d }) => ({ key: k, label: section ? code(section, k) : k, bars: [{ value: r, text: String(r) }, { value: d, text: String(d) }] }));
  }

  function showReport(r) {
    const series = [{ name: t("policy.reality") }, { name: t("policy.draftSide", { v: r.draft_version }) }];
    const R = r.reality, D = r.draft;
    clear(result,
      h("p", { testid: "sim-summary" }, t("policy.summary", { n: r.leads, d: r.differing_leads })),
      h("div", { class: "row" },
        h("span", { class: "badge" }, `${t("policy.reviews")}: ${R.reviews_due} → ${D.reviews_due}`), " ",
        h("span", { class: "badge" }, `${t("policy.alerts")}: ${R.alerts} → ${D.alerts}`)),
      h("h4", {}, t("policy.lapses")), barChart({ testid: "sim-lapses", items: pair(R.sla_lapses, D.sla_lapses, 20, undefined, "clock"), series }),
      h("h4", {}, t("policy.penalties")), barChart({ testid: "sim-penalties", items: pair(R.penalties_per_dealer, D.penalties_per_dealer), series }),
      h("h4", {}, t("policy.perDealer")), barChart({ testid: "sim-dealers", items: pair(R.leads_per_dealer, D.leads_per_dealer), series }),
      h("h4", {}, t("policy.grades")), barChart({ testid: "sim-grades", items: pair(R.grade_mix, D.grade_mix, 6, (a, b) => a.k.localeCompare(b.k)), series }),
      h("h4", {}, t("policy.reach")), barChart({ testid: "sim-reach", items: Object.keys(R.stage_reach).map((k) => ({
        key: k, label: code("stage", k), bars: [{ value: R.stage_reach[k], text: String(R.stage_reach[k]) }, { value: D.stage_reach[k], text: String(D.stage_reach[k]) }] })), series }),
      h("h4", {}, t("policy.assumptions")),
      h("div", { class: "list small", testid: "sim-assumptions" }, r.assumptions.length
        ? r.assumptions.map((a) => h("div", {}, h("b", {}, `${a.count}×`), " ", a.assumption)) : h("p", { class: "empty" }, t("ui.none"))),
      h("h4", {}, t("policy.differing")),
      h("div", { class: "list small", testid: "sim-differing" }, r.differing.map((d) => h("div", { class: "row" },
        h("a", { href: `#/leads/${d.lead_id}` }, d.lead_id), " ", h("span", {}, d.why.map((w) => w.text).join(t("policy.whySep")))))));
  }

  async function refresh() {
    const list = await get("/v1/policies");
    clear(versions, list.map((v) => h("div", { class: "card", data: { version: v.version }, testid: "policy-version" },
      h("div", { class: "row" }, h("b", {}, `v${v.version}`), " ", h("span", { class: `badge ${v.status === "active" ? "" : "muted"}` }, t(`policy.${v.status}`)),
        " ", h("span", { class: "muted small" }, `${v.author_name} · ${formatTime(v.created_at)}`), " ", v.reason),
      // each changed setting in words (the API names it), then its key path as lead ops type it in a draft: an
      // identifier, not words (lang="zxx": no linguistic content)
      v.diff.length ? h("ul", { class: "small", testid: "policy-diff" }, v.diff.map((d) => h("li", {},
        d.label ? h("b", {}, d.label) : null, " ", h("code", { lang: "zxx" }, d.path), ` ${d.before_text} → ${d.after_text}`))) : null,
      v.status === "draft" && me.role === "head_of_lead_ops" && me.user_id !== v.author ? h("div", { class: "row" },
        h("button", { testid: "policy-approve", on: { click: act(() => request("POST", `/v1/policies/${v.version}/approve`, { body: {} })) } }, t("policy.approve")),
        h("button", { class: "ghost", on: { click: act(() => request("POST", `/v1/policies/${v.version}/reject`, { body: { note: t("policy.rejected") } })) } }, t("policy.reject")))
        : null,
      v.status === "draft" ? h("button", { class: "ghost", on: { click: () => { simVersion.value = v.version; simulate(); } } }, t("policy.run")) : null)));
  }
  await refresh();
  return { refresh };
}
