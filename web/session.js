// Who is signed in (from GET /v1/me) and what the OpenAPI document says about codes, shared by the views.

import { get, openapi } from "./api.js";

export const session = { me: null };

const DEALER_ROLES = new Set(["dealer_manager", "consultant", "dealer_ops_lead"]);
// The lifecycle's end stages (domain/stages.py END_STAGES): "open only" lists leave them out.
export const END_STAGES = new Set(["completed", "closed_invalid", "closed_lost"]);

export function isDealer() { return DEALER_ROLES.has(session.me?.role); }
export function isOem() { return !!session.me && !isDealer(); }
export function isManager() { return session.me?.role === "dealer_manager"; }

export function temporalUrl(workflowId) {
  const me = session.me;
  return `${me.temporal_ui_url}/namespaces/${encodeURIComponent(me.temporal_namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** An enum's values as the API publishes them (LeadStage, Channel, ...). */
export async function enumValues(name) {
  const doc = await openapi();
  return doc.components?.schemas?.[name]?.enum || [];
}

let dealers = null;
/** The dealer network (an OEM user sees all; a dealer's people only their own), cached per sign-in. */
export async function dealerList() {
  if (!dealers) dealers = get("/v1/dealers", { limit: 1000 }).catch(() => []);
  return dealers;
}

export function forget() {
  session.me = null;
  dealers = null;
}
