// My account: change my password; for a dealer manager (their dealer's consultants) and lead ops (anyone):
// invite a person, reset a password (both answer a single-use link, shown once), and API tokens for
// machines (shown once, listed with their last use, revocable).

import { ApiError, get, request } from "../api.js";
import { clear, h } from "../dom.js";
import { code, formatTime, t } from "../i18n.js";
import { isManager, session } from "../session.js";

const OPS = new Set(["lead_ops", "head_of_lead_ops"]);

function form(testid, fields, label, submit) {
  const note = h("p", { class: "muted small", testid: `${testid}-note`, role: "status" });
  const el = h("form", { class: "card", testid, on: { submit: async (e) => {
    e.preventDefault();
    try { note.textContent = await submit(); } catch (err) { note.textContent = err instanceof ApiError ? err.message : String(err); }
  } } }, fields, h("button", { type: "submit", class: "primary" }, label), note);
  return el;
}

const input = (name, attrs = {}) => h("label", { class: "field" }, h("span", { class: "field-label" }, t(`account.${name}`)),
  h("input", { name, required: true, ...attrs }));

export async function accountView({ el }) {
  const me = session.me;
  const admin = isManager() || OPS.has(me.role);
  const password = form("change-password", [
    input("current_password", { type: "password", autocomplete: "current-password" }),
    input("new_password", { type: "password", autocomplete: "new-password", minlength: 10 }),
  ], t("account.changePassword"), async () => {
    const f = document.querySelector('[data-testid="change-password"]');
    await request("POST", "/v1/auth/password", { body: { current_password: f.current_password.value, new_password: f.new_password.value } });
    f.reset();
    return t("account.passwordChanged");
  });
  const parts = [h("h2", {}, t("nav.account")), password];
  if (admin) {
    const roles = OPS.has(me.role) ? ["consultant", "dealer_manager", "dealer_ops_lead", "lead_ops", "review_team", "regional_manager", "call_center"] : ["consultant"];
    const roleSelect = () => h("select", { name: "role" }, roles.map((r) => h("option", { value: r }, code("role", r))));
    parts.push(h("h3", {}, t("account.invite")), form("invite", [input("user_id"), input("name"), roleSelect(),
      OPS.has(me.role) ? input("dealer_id", { required: false }) : null], t("account.invite"), async () => {
      const f = document.querySelector('[data-testid="invite"]');
      const body = { user_id: f.user_id.value.trim(), name: f.name.value.trim(), role: f.role.value };
      if (f.dealer_id?.value) body.dealer_id = f.dealer_id.value.trim();
      const link = await request("POST", "/v1/auth/invites", { body });
      return t("account.linkOnce", { link: link.link, until: formatTime(link.expires_at) });
    }));
    parts.push(h("h3", {}, t("account.reset")), form("reset", [input("user_id")], t("account.reset"), async () => {
      const f = document.querySelector('[data-testid="reset"]');
      const link = await request("POST", "/v1/auth/resets", { body: { user_id: f.user_id.value.trim() } });
      return t("account.linkOnce", { link: link.link, until: formatTime(link.expires_at) });
    }));
    const list = h("div", { class: "list", testid: "api-tokens" });
    const refresh = async () => {
      const tokens = await get("/v1/auth/tokens");
      clear(list, tokens.length ? tokens.map((tk) => h("div", { class: "row" },
        h("strong", {}, tk.name), " · ", code("role", tk.role), tk.dealer_id ? ` · ${tk.dealer_id}` : "",
        " · ", t("account.lastUsed"), " ", tk.last_used_at ? formatTime(tk.last_used_at) : "—",
        tk.revoked_at ? h("span", { class: "muted" }, " · ", t("account.revoked")) : h("button", { class: "ghost", on: { click: async () => {
          await request("DELETE", `/v1/auth/tokens/${tk.id}`); await refresh();
        } } }, t("account.revoke")))) : h("p", { class: "muted" }, t("ui.empty")));
    };
    parts.push(h("h3", {}, t("account.tokens")), form("new-token", [input("token_name"), roleSelect()], t("account.newToken"), async () => {
      const f = document.querySelector('[data-testid="new-token"]');
      const made = await request("POST", "/v1/auth/tokens", { body: { name: f.token_name.value.trim(), role: f.role.value } });
      await refresh();
      return t("account.tokenOnce", { token: made.token });
    }), list);
    await refresh();
  }
  clear(el, ...parts);
  return { refresh: async () => {} };
}
