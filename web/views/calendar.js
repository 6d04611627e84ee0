// The working-day calendar (OEM console, lead ops): a year's state and special days, the State Council's
// schedule uploaded as JSON or CSV, single days set or made ordinary, the year confirmed, the audit.

import { ApiError, authHeaders, get, request } from "../api.js";
import { clear, h } from "../dom.js";
import { code, formatTime, t } from "../i18n.js";

export async function calendarView({ el, query }) {
  const year = Number(query.year) || new Date().getFullYear() + 1;
  const head = h("div", { class: "calendar-head" });
  const days = h("div", { class: "list", testid: "calendar-days" });
  const audit = h("div", { class: "list muted small" });
  const note = h("p", { class: "muted", testid: "calendar-note" });
  const text = h("textarea", { rows: 6, testid: "calendar-upload", placeholder: "date,kind,name\n2027-02-13,workday,春节调休" });
  const day = h("input", { type: "date", testid: "calendar-day" });
  const kind = h("select", {}, ["holiday", "workday"].map((k) => h("option", { value: k }, t(`calendar.${k}`))));
  const name = h("input", { type: "text", maxlength: 100 });
  const yearLink = (y) => h("a", { href: `#/calendar?year=${y}` }, String(y));

  const act = (fn) => async () => {
    try { await fn(); await refresh(); } catch (err) { note.textContent = err instanceof ApiError ? err.message : String(err); }
  };
  const upload = (confirm) => act(async () => {
    const body = text.value.trim();
    const json = body.startsWith("[") || body.startsWith("{");
    const response = await fetch(`/v1/calendar/${year}/schedule?confirm=${confirm}`, { method: "POST", body,
      credentials: "same-origin", headers: { ...authHeaders("POST"), "Content-Type": json ? "application/json" : "text/csv" } });
    const answer = await response.json();
    if (!response.ok) {
      const detail = Array.isArray(answer.detail) ? answer.detail.map((d) => `${d.loc.join(" ")}: ${d.msg}`).join("\n") : answer.detail;
      throw new ApiError(response.status, detail);
    }
    note.textContent = answer.leads_signalled ? t("calendar.signalled") : "";
  });

  clear(el, h("h2", {}, t("nav.calendar"), " ", yearLink(year - 1), " · ", h("b", {}, String(year)), " · ", yearLink(year + 1)),
    head, note, days,
    h("h3", {}, t("calendar.setDay")), h("div", { class: "row" }, day, kind, name,
      h("button", { on: { click: act(async () => {
        await request("PUT", `/v1/calendar/days/${day.value}`, { body: { kind: kind.value, name: name.value } });
      }) } }, t("ui.submit"))),
    h("h3", {}, t("calendar.upload")), text,
    h("div", { class: "row" }, h("button", { on: { click: upload(false) } }, t("ui.submit")),
      h("button", { testid: "calendar-upload-confirm", on: { click: upload(true) } }, t("calendar.uploadAndConfirm"))),
    h("h3", {}, t("calendar.audit")), audit);

  async function refresh() {
    const view = await get(`/v1/calendar/${year}`);
    clear(head, h("span", { class: `badge ${view.state === "confirmed" ? "" : "red"}`, testid: "calendar-state" },
      t(`calendar.${view.state}`)), " ",
    view.state === "confirmed" ? (view.confirmed_by ? `${view.confirmed_by_name || view.confirmed_by} · ${formatTime(view.confirmed_at)}` : "")
      : h("button", { testid: "calendar-confirm", on: { click: act(() => request("POST", `/v1/calendar/${year}/confirm`)) } },
        t("calendar.confirm")));
    clear(days, view.days.map((d) => h("div", { class: "row", data: { date: d.date } },
      h("b", {}, d.date), " ", t(`calendar.${d.kind}`), " ", h("span", { lang: "zh-CN", class: "day-name" }, d.name), " ", h("span", { class: "muted small" }, t(`calendar.${d.source}`)),
      h("button", { class: "ghost", on: { click: act(() => request("DELETE", `/v1/calendar/days/${d.date}`)) } }, t("calendar.remove")))));
    const rows = await get(`/v1/calendar/${year}/audit`);
    clear(audit, rows.length ? rows.map((a) => h("div", { testid: "calendar-audit-row" }, formatTime(a.at), " · ", a.actor_name || a.actor, " · ",
      code("calendarAction", a.action)))
      : h("p", { class: "empty" }, t("ui.empty")));
  }
  await refresh();
  return { refresh };
}

export const canManageCalendar = (me) => ["lead_ops", "head_of_lead_ops"].includes(me?.role);
