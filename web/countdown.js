// Live countdowns for the SLA clocks, ticking every second in the browser.
// data-state: ok (more than 25% of the clock's span left), amber (25% or less), red (the deadline has
// passed: lapsed, not yet processed by the engine), paused (the dealer's request is being looked at),
// lapsed (the engine recorded the lapse and the clock still waits for its action: red, "已超时 12 分钟").
// "Now" is the server's: the offset to /v1/me's server_time corrects a phone whose clock is off.

import { h } from "./dom.js";
import { code, formatDuration, t } from "./i18n.js";

let offsetMs = 0;
export const AMBER_SHARE = 0.25;

export function setServerTime(iso, sentAt = Date.now()) {
  const server = Date.parse(iso);
  if (!Number.isNaN(server)) offsetMs = server - sentAt;
}

export function serverNow() { return Date.now() + offsetMs; }

export function clockState(startedAt, deadline, paused, now = serverNow()) {
  if (paused) return "paused";
  if (!deadline) return "ok";
  const end = Date.parse(deadline);
  const left = end - now;
  if (left < 0) return "red";
  const span = end - Date.parse(startedAt);
  return span > 0 && left <= span * AMBER_SHARE ? "amber" : "ok";
}

/** One clock: {name, title?, started_at, deadline, paused}. */
export function countdown(clock, { label = true } = {}) {
  const el = h("span", {
    class: "countdown", testid: "countdown",
    data: { clock: clock.name, deadline: clock.deadline || "", started: clock.started_at || "", paused: clock.paused ? "1" : "",
      lapsed: clock.lapsed ? "1" : "" },
    title: clock.deadline ? new Date(clock.deadline).toLocaleString() : "",
  },
  label ? h("span", { class: "countdown-name" }, code("clock", clock.name)) : null,
  h("span", { class: "countdown-time" }));
  update(el);
  return el;
}

/** How late, in whole minutes (12 分钟, 2 小时 5 分钟, 1 天 3 小时). */
export function lateness(ms) {
  const minutes = Math.max(0, Math.floor(ms / 60000));
  const d = Math.floor(minutes / 1440), hr = Math.floor((minutes % 1440) / 60), m = minutes % 60;
  const parts = d ? [t("ui.days", { n: d }), hr ? t("ui.hours", { n: hr }) : ""]
    : hr ? [t("ui.hours", { n: hr }), m ? t("ui.minutes", { n: m }) : ""] : [t("ui.minutes", { n: m })];
  return parts.filter(Boolean).join(" ");
}

function update(el, now = serverNow()) {
  const { deadline, started, paused, lapsed } = el.dataset;
  const state = lapsed === "1" ? "lapsed" : clockState(started, deadline, paused === "1", now);
  el.dataset.state = state;
  const time = el.querySelector(".countdown-time");
  let text;
  if (state === "lapsed") text = t("ui.lapsedFor", { t: lateness(now - Date.parse(deadline)) });
  else if (state === "paused") text = t("ui.paused");
  else if (!deadline) text = t("ui.computing");
  else {
    const left = Date.parse(deadline) - now;
    text = left < 0 ? t("ui.overdue", { t: formatDuration(left) }) : t("ui.left", { t: formatDuration(left) });
  }
  if (time.textContent !== text) time.textContent = text;
}

export function tickAll() {
  const now = serverNow();
  document.querySelectorAll('[data-testid="countdown"]').forEach((el) => update(el, now));
}

setInterval(tickAll, 1000);
