// The dealer portal and OEM console: sign-in, the shell (header, nav), the hash router, the live
// stream and the toasts. Views live in views/; each renders into the page and returns {refresh}.

import { ApiError, get, request, whenUnauthorized } from "./api.js";
import { setServerTime, tickAll } from "./countdown.js";
import { clear, h, s } from "./dom.js";
import { catalogLang, code, getLang, noticeName, setLang, t } from "./i18n.js";
import { connect } from "./live.js";
import { installPwa, setOffline } from "./pwa.js";
import { forget, isDealer, isManager, isOem, session } from "./session.js";
import { accountView } from "./views/account.js";
import { calendarView, canManageCalendar } from "./views/calendar.js";
import { canManagePolicies, policiesView } from "./views/policies.js";
import { detailView } from "./views/detail.js";
import { inboxView, leadsView, poolView, teamView } from "./views/lists.js";
import { dashboardsView, queuesView, queueView } from "./views/oem.js";
import { ownerCardView, ownerCareDashboardView, ownersView } from "./views/owners.js";

const root = document.getElementById("app");
const toasts = h("div", { class: "toasts", "aria-live": "polite" });
document.body.append(toasts);
setLang(getLang());
installPwa();  // the installable app: service worker, offline banner (web/pwa.js)

let stopLive = null;
let current = null;  // {route, refresh, wants, minInterval, lastRefresh}
let unread = 0;
let liveState = "offline";
let offlineTimer = null;
const quietUntil = new Map();  // lead id -> until when its lead events make no toast (the user's own action)

// ------------------------------------------------------------------ routes

const ROUTES = [
  { pattern: /^\/leads\/([^/]+)$/, view: detailView, nav: "leads" },
  { pattern: /^\/leads$/, view: leadsView, nav: "leads" },
  { pattern: /^\/pool$/, view: poolView, nav: "pool", when: isDealer },
  { pattern: /^\/inbox$/, view: inboxView, nav: "inbox" },
  { pattern: /^\/team$/, view: teamView, nav: "team", when: isManager },
  { pattern: /^\/queues\/([^/]+)$/, view: queueView, nav: "queues", when: isOem },
  { pattern: /^\/queues$/, view: queuesView, nav: "queues", when: isOem },
  { pattern: /^\/dashboards$/, view: dashboardsView, nav: "dashboards", when: isOem },
  { pattern: /^\/calendar$/, view: calendarView, nav: "calendar", when: () => canManageCalendar(session.me) },
  { pattern: /^\/policies$/, view: policiesView, nav: "policies", when: () => canManagePolicies(session.me) },
  { pattern: /^\/account$/, view: accountView, nav: "account" },
  { pattern: /^\/owners\/([^/]+)$/, view: ownerCardView, nav: "owners" },  // owner care (issue 17)
  { pattern: /^\/owners$/, view: ownersView, nav: "owners" },
  { pattern: /^\/owner-care$/, view: ownerCareDashboardView, nav: "ownerCare", when: isOem },
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/leads";
  const [path, search = ""] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(search)) };
}

function navItems() {
  return [
    { key: "leads", href: "#/leads", label: isDealer() ? t("nav.leads") : t("nav.leadsOem"), icon: "M4 6h16M4 12h16M4 18h10" },
    isDealer() && { key: "pool", href: "#/pool", label: t("nav.pool"), icon: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8" },
    { key: "inbox", href: "#/inbox", label: t("nav.inbox"), icon: "M3 6h18v12H3zM3 6l9 7l9-7", badge: true },
    isManager() && { key: "team", href: "#/team", label: t("nav.team"), icon: "M9 11a3.5 3.5 0 1 0 0-7a3.5 3.5 0 1 0 0 7M2 20c0-4 3-6 7-6s7 2 7 6M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14c2.5.5 4 2.5 4 6" },
    isOem() && { key: "queues", href: "#/queues", label: t("nav.queues"), icon: "M4 5h10M4 12h10M4 19h10M17 5l2 2l3-4M17 12l2 2l3-4" },
    canManageCalendar(session.me) && { key: "calendar", href: "#/calendar", label: t("nav.calendar"), icon: "M4 6h16v14H4zM4 10h16M9 3v5M15 3v5" },
    canManagePolicies(session.me) && { key: "policies", href: "#/policies", label: t("nav.policies"), icon: "M6 3h9l3 3v15H6zM9 9h6M9 13h6M9 17h4" },
    isOem() && { key: "dashboards", href: "#/dashboards", label: t("nav.dashboards"), icon: "M4 20V10M10 20V4M16 20v-7M22 20H2" },
    { key: "owners", href: "#/owners", label: t("nav.owners"), icon: "M5 16h14l-2-6H7zM7 19a1.5 1.5 0 1 0 0-.1M17 19a1.5 1.5 0 1 0 0-.1" },
    isOem() && { key: "ownerCare", href: "#/owner-care", label: t("nav.ownerCare"), icon: "M12 21s-7-4.5-7-10a4 4 0 0 1 7-2.5A4 4 0 0 1 19 11c0 5.5-7 10-7 10z" },
  ].filter(Boolean);
}

// ------------------------------------------------------------------ shell

function shell() {
  const me = session.me;
  const nav = h("nav", { class: "nav" }, navItems().map((item) => h("a", {
    href: item.href, testid: `nav-${item.key}`, data: { nav: item.key }, class: "nav-link" },
  icon(item.icon), h("span", { class: "nav-label" }, item.label),
  item.badge ? h("span", { class: "badge count", testid: "inbox-count", hidden: unread === 0 }, String(unread)) : null)));
  clear(root,
    h("header", { class: "top" },
      h("a", { class: "brand", href: "#/leads" }, t("app.brand")),
      h("span", { class: "live-dot", testid: "live-status", title: liveState === "live" ? t("ui.live") : t("ui.offline"), data: { state: liveState } }),
      h("span", { class: "whoami", testid: "whoami" }, h("strong", {}, me.name || me.user_id), " · ", code("role", me.role),
        me.dealer_id ? ` · ${me.dealer_id}` : me.region ? ` · ${code("region", me.region)}` : ""),
      langToggle(),
      h("a", { class: "ghost", href: "#/account", testid: "nav-account" }, t("nav.account")),
      h("button", { class: "ghost", testid: "sign-out", on: { click: () => signOut() } }, t("ui.signOut"))),
    nav,
    h("main", { id: "view", class: "view" }));
}

function icon(path) {
  return s("svg", { class: "nav-icon", viewBox: "0 0 24 24", width: 22, height: 22, fill: "none", stroke: "currentColor",
    "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" }, s("path", { d: path }));
}

function langToggle() {
  return h("button", { class: "ghost lang", testid: "lang-toggle", title: "中文 / English", on: { click: () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    document.title = t("app.title");
    if (session.me) { shell(); route(); } else signInPage();
  } } }, getLang() === "zh" ? "EN" : "中文");
}

function setUnread(n) {
  unread = Math.max(0, n);
  const badge = document.querySelector('[data-testid="inbox-count"]');
  if (badge) { badge.textContent = String(unread); badge.hidden = unread === 0; }
}

// The badge is the server's unread count (GET /v1/inbox/unread-count): the same on every device. It is asked
// again on sign-in, on a new alert, when this user's read state changed anywhere (the stream's `inbox` event),
// after a reconnect, and when the tab comes back into view.
let counting = null;
async function countUnread() {
  if (counting) return counting;
  counting = (async () => {
    try {
      setUnread((await get("/v1/inbox/unread-count")).unread);
    } catch { /* the badge waits for the next event */ }
  })();
  try { await counting; } finally { counting = null; }
}
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && session.me) countUnread(); });

export function toast(text) {
  const el = h("div", { class: "toast", testid: "live-toast", role: "status" }, text);
  toasts.append(el);
  while (toasts.children.length > 3) toasts.firstElementChild.remove();
  setTimeout(() => el.classList.add("hide"), 4000);
  setTimeout(() => el.remove(), 4600);
}

// ------------------------------------------------------------------ router

async function route() {
  const view = document.getElementById("view");
  if (!view) return;
  const { path, query } = parseHash();
  let match = null;
  let params = [];
  for (const r of ROUTES) {
    const m = path.match(r.pattern);
    if (m && (!r.when || r.when())) { match = r; params = m.slice(1); break; }
  }
  if (!match) { location.replace("#/leads"); return; }
  document.querySelectorAll(".nav-link").forEach((a) => a.classList.toggle("active", a.dataset.nav === match.nav));
  const token = {};
  current = { token };
  clear(view, h("p", { class: "muted loading" }, t("ui.loading")));
  const el = h("div", { class: "page" });
  try {
    const quiet = (leadId) => quietUntil.set(leadId, Date.now() + 5000);
    const handle = await match.view({ el, params, query, navigate, toast, quiet, onRead: countUnread });
    if (current?.token !== token) return;  // the user went elsewhere (or signed out) meanwhile
    current = { token, ...handle, route: match.nav, lastRefresh: Date.now() };
    clear(view, el);
    tickAll();
  } catch (err) {
    if (current?.token !== token) return;
    clear(view, h("div", { class: "card error", role: "alert" }, err instanceof ApiError ? err.message : String(err),
      h("button", { class: "ghost", on: { click: route } }, t("ui.retry"))));
  }
  document.documentElement.dataset.routed = location.hash;  // this address is drawn (the browser tests wait for it)
}

function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

// ------------------------------------------------------------------ live

let pending = null;
function refreshSoon(minInterval) {
  if (!current?.refresh) return;
  const gap = Math.max(minInterval || 0, current.minInterval || 1500);
  const wait = Math.max(300, gap - (Date.now() - (current.lastRefresh || 0)));
  if (pending) return;  // one refresh already on its way picks this change up too
  pending = setTimeout(async () => {
    pending = null;
    const here = current;
    if (!here?.refresh) return;
    here.lastRefresh = Date.now();
    try { await here.refresh(); tickAll(); } catch { /* shown again on the next event or a reload */ }
  }, wait);
}

/** Does this event concern what the page shows? A dealer's people see few leads: all of theirs do. */
function concerns(event, data) {
  if (current?.wants) return current.wants(event, data);
  if (event === "notification" || isDealer()) return true;
  return !!document.querySelector(`#view [data-lead-id="${CSS.escape(data.lead_id)}"]`);
}

function onLive(event, data) {
  if (event === "ready") { setServerTime(data.server_time); return; }
  if (event === "inbox") {  // read (or all read) on another page or device: recount, and show it if it is open
    countUnread();
    if (current?.route === "inbox") refreshSoon();
    return;
  }
  if (event !== "lead" && event !== "notification") return;
  const relevant = concerns(event, data);
  if (event === "notification") {
    countUnread();
    const text = data.texts?.[catalogLang()];  // the catalog's words; never the engine's raw message
    toast(t("ui.liveNote", { kind: noticeName(data.kind) }) + (text ? ` — ${text}` : ""));
  } else if (relevant && !((quietUntil.get(data.lead_id) || 0) > Date.now())) {
    toast(data.stage ? t("ui.liveLead", { stage: code("stage", data.stage) }) : t("ui.liveGone"));
  }
  // the OEM sees every lead: a list it is looking at takes in new leads every 10 s at most
  if (relevant || current?.route === "inbox") refreshSoon(); else if (isOem()) refreshSoon(10000);
}

function setLiveStatus(state, reconnected) {
  liveState = state;
  // the banner once the server stays out of reach (not for the stream's own reconnect every 10 minutes)
  clearTimeout(offlineTimer);
  if (state === "live") setOffline(!navigator.onLine); else offlineTimer = setTimeout(() => setOffline(true), 4000);
  const dot = document.querySelector('[data-testid="live-status"]');
  if (dot) { dot.dataset.state = state; dot.title = state === "live" ? t("ui.live") : t("ui.reconnecting"); }
  if (reconnected) { refreshSoon(); countUnread(); }  // events may have been missed while away
}

// ------------------------------------------------------------------ sign-in

// The session lives in an HttpOnly cookie the server set at sign-in: the page never holds a credential.
function field(label, input) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input);
}

function signInPage(message) {
  const login = h("input", { type: "text", testid: "login-input", name: "username", autocomplete: "username", required: true });
  const password = h("input", { type: "password", testid: "password-input", name: "password", autocomplete: "current-password", required: true });
  const error = h("div", { class: "form-error", testid: "sign-in-error", role: "alert", hidden: !message }, message || "");
  const sso = h("p", { hidden: true }, h("a", { href: "/auth/oidc/login", class: "button wide", testid: "sign-in-sso" }, t("ui.signInSso")));
  const form = h("form", { class: "card signin", on: { submit: async (e) => {
    e.preventDefault();
    try {
      await request("POST", "/v1/auth/login", { body: { login: login.value.trim(), password: password.value }, quiet: true });
      password.value = "";
      await start();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? t("ui.badLogin") : err.message;
      error.hidden = false;
    }
  } } },
  h("h1", {}, t("app.brand")), h("p", { class: "muted" }, t("ui.signInTitle")),
  field(t("ui.login"), login), field(t("ui.password"), password), error,
  h("button", { type: "submit", class: "primary wide", testid: "sign-in" }, t("ui.signIn")), sso);
  clear(root, h("header", { class: "top" }, h("span", { class: "brand" }, t("app.brand")), langToggle()), h("main", { class: "view" }, form));
  get("/v1/auth/config").then((c) => { sso.hidden = !c.oidc; }).catch(() => {});
  login.focus();
}

/** #/set-password/<ticket>: an invite or reset link; sets the password once, then signs in. */
function setPasswordPage(ticket) {
  const password = h("input", { type: "password", testid: "new-password", autocomplete: "new-password", minlength: 10, required: true });
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "card signin", on: { submit: async (e) => {
    e.preventDefault();
    try {
      await request("POST", "/v1/auth/accept", { body: { ticket, password: password.value }, quiet: true });
      location.replace("#/leads");
      await start();
    } catch (err) { error.textContent = err.message; error.hidden = false; }
  } } },
  h("h1", {}, t("app.brand")), h("p", { class: "muted" }, t("ui.setPassword")),
  field(t("ui.newPassword"), password), error,
  h("button", { type: "submit", class: "primary wide", testid: "set-password" }, t("ui.save")));
  clear(root, h("header", { class: "top" }, h("span", { class: "brand" }, t("app.brand")), langToggle()), h("main", { class: "view" }, form));
}

async function start() {
  const sentAt = Date.now();
  const me = await request("GET", "/v1/me", { quiet: true });
  setServerTime(me.server_time, (sentAt + Date.now()) / 2);
  session.me = me;
  document.title = t("app.title");
  shell();
  stopLive?.();
  stopLive = connect({ onEvent: onLive, onStatus: setLiveStatus, onUnauthorized: () => signOut(t("ui.sessionEnded")) });
  countUnread();
  if (!location.hash || location.hash === "#/" || location.hash === "#") location.replace("#/leads");
  await route();
}

function signOut(message) {
  stopLive?.();
  stopLive = null;
  if (session.me) request("POST", "/v1/auth/logout", { quiet: true }).catch(() => {});  // ends it on the server
  forget();
  current = null;
  setUnread(0);
  signInPage(typeof message === "string" ? message : undefined);
}

whenUnauthorized(() => signOut(t("ui.sessionEnded")));
window.addEventListener("hashchange", () => { if (session.me) route(); });

const invited = location.hash.match(/^#\/set-password\/([A-Za-z0-9_-]+)$/);
if (invited) {
  setPasswordPage(invited[1]);
} else {
  start().catch((err) => {  // a session cookie from before, if it is still alive
    if (err instanceof ApiError && err.status === 401) signInPage();
    else signInPage(err.message);
  });
}
