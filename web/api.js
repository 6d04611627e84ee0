// The API, called with the session cookie (HttpOnly: no script here can read it). Every write sends the
// session's CSRF token in X-CSRF-Token, read from the `leadflow_csrf` cookie (no credential on its own).
// An error carries the API's own `detail` (409: why the stage forbids it, 403: not your lead or role,
// 422: the fields at fault).

import { catalogLang, t } from "./i18n.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** The session's CSRF token (double submit: the server compares it with the session's own). */
export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("leadflow_csrf="));
  return found ? decodeURIComponent(found.slice("leadflow_csrf=".length)) : "";
}

/** Headers a raw fetch() adds: the CSRF token for a write (the cookie travels by itself). */
export function authHeaders(method = "GET") {
  return SAFE.has(method.toUpperCase()) ? {} : { "X-CSRF-Token": csrfToken() };
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

/** 422 details as "field: message" lines, the field named as the form names it (needs.use). */
function describe(status, detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const loc = (d.loc || []).filter((p) => p !== "body" && p !== "query" && p !== "path");
      const field = loc.join(".");
      const label = field ? t("field." + field) : "";
      return label ? `${label}: ${d.msg}` : d.msg;
    }).join("\n");
  }
  if (typeof detail === "string") return detail;
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return `${t("ui.apiError")} (HTTP ${status})`;
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

// The API requests in flight, on the document (`data-requests`): a page whose count is 0 and that shows no
// `.loading` has drawn what it asked for (the browser tests wait for that; the live stream is not counted).
let inFlight = 0;
function inFlightBy(step) {
  inFlight += step;
  document.documentElement.dataset.requests = String(inFlight);
}

export async function request(method, path, { params, body, quiet } = {}) {
  inFlightBy(1);
  try {
    return await send(method, path, { params, body, quiet });
  } finally {
    inFlightBy(-1);
  }
}

async function send(method, path, { params, body, quiet }) {
  const headers = { Accept: "application/json", "Accept-Language": catalogLang(), ...authHeaders(method) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path + query(params), {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t("ui.networkError"));
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    if (response.status === 401 && !quiet) onUnauthorized();
    throw new ApiError(response.status, data && typeof data === "object" && "detail" in data ? data.detail : data);
  }
  return data;
}

export const get = (path, params) => request("GET", path, { params });
export const post = (path, body) => request("POST", path, { body });

let schema = null;
/** The OpenAPI document, once: the action forms are generated from it. */
export async function openapi() {
  if (!schema) schema = await request("GET", "/openapi.json");
  return schema;
}
