// Action forms, generated from the request body schema of POST /v1/leads/{id}/{action} in /openapi.json:
// every action and every enum the API knows is covered without a hand-written form. Inputs are named
// after the command's fields (nested ones as "needs.use"); the API validates (the form is novalidate)
// and its answer (409/403/422) shows in the form.

import { ApiError, get, openapi, post } from "./api.js";
import { h } from "./dom.js";
import { code, t } from "./i18n.js";

export function actionPath(leadId, action) {
  return `/v1/leads/${encodeURIComponent(leadId)}/${action.replaceAll("_", "-")}`;
}

function deref(doc, schema) {
  let node = schema || {};
  for (let i = 0; i < 10 && node.$ref; i++) {
    node = node.$ref.replace(/^#\//, "").split("/").reduce((at, part) => at?.[part], doc) || {};
  }
  return node;
}

/** The non-null branch of `X | None`, and whether null was allowed. */
function unwrap(doc, schema) {
  let node = deref(doc, schema);
  let nullable = false;
  const options = node.anyOf || node.oneOf;
  if (options) {
    const real = options.filter((o) => o.type !== "null");
    nullable = real.length < options.length;
    node = { ...deref(doc, real[0]), ...(schema.default !== undefined ? { default: schema.default } : {}) };
  }
  return { node, nullable };
}

/** The fields of an action's command: [{name, kind, required, enum, min, max, maxLength, fields}] */
export async function commandFields(action) {
  const doc = await openapi();
  const op = doc.paths?.[`/v1/leads/{lead_id}/${action.replaceAll("_", "-")}`]?.post;
  const body = op?.requestBody?.content?.["application/json"]?.schema;
  if (!body) return [];
  return describeObject(doc, unwrap(doc, body).node, "");
}

function describeObject(doc, schema, prefix) {
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {})
    .filter(([name]) => name !== "action")
    .map(([name, prop]) => {
      const { node } = unwrap(doc, prop);
      const field = {
        name: prefix + name, required: required.has(name), default: prop.default ?? node.default,
        min: node.minimum ?? node.exclusiveMinimum, max: node.maximum, maxLength: node.maxLength,
      };
      if (node.enum) return { ...field, kind: "enum", enum: node.enum };
      if (node.type === "boolean") return { ...field, kind: "boolean" };
      if (node.type === "integer" || node.type === "number") return { ...field, kind: node.type };
      if (node.type === "object" || node.properties) {
        return { ...field, kind: "object", fields: describeObject(doc, node, prefix + name + ".") };
      }
      if (node.format === "date-time") return { ...field, kind: "datetime" };
      return { ...field, kind: "string" };
    });
}

/** Choices the API can give for a field better than a free text box. */
async function choicesFor(field, lead) {
  if (field.name === "consultant_id" && lead.dealer_id) {
    const team = await get(`/v1/dealers/${encodeURIComponent(lead.dealer_id)}/consultants`);
    return team.filter((c) => c.active).map((c) => ({
      value: c.user_id, label: `${c.name} · ${c.open_leads}/${c.max_open_leads}${c.on_duty ? "" : " · " + t("ui.offDuty")}`,
    }));
  }
  if (field.name === "dealer_id") {
    const dealers = await get("/v1/dealers", { brand: lead.brand, active: true });
    return dealers.filter((d) => d.id !== lead.dealer_id).map((d) => ({ value: d.id, label: `${d.name} (${d.city})` }));
  }
  return null;
}

function label(field) {
  return h("span", { class: "field-label" }, t("field." + field.name),
    field.required ? h("abbr", { title: t("ui.required"), class: "req" }, " *") : null);
}

async function input(field, lead) {
  if (field.kind === "object") {
    const inner = await Promise.all(field.fields.map((f) => input(f, lead)));
    return h("fieldset", { class: "nested" }, h("legend", {}, t("field." + field.name)), inner);
  }
  if (field.kind === "boolean") {
    return h("label", { class: "field check" },
      h("input", { type: "checkbox", name: field.name, checked: field.default === true }), label(field));
  }
  let control;
  const choices = field.kind === "enum"
    ? field.enum.map((v) => ({ value: v, label: code(field.name.endsWith("timeframe") ? "timeframe" : "enum", v) }))
    : await choicesFor(field, lead).catch(() => null);
  if (choices) {
    control = h("select", { name: field.name },
      h("option", { value: "" }, field.required ? "—" : t("ui.none")),
      choices.map((c) => h("option", { value: c.value }, c.label)));
    if (field.default && typeof field.default === "string") control.value = field.default;
  } else if (field.kind === "integer" || field.kind === "number") {
    control = h("input", { type: "number", name: field.name, inputmode: "decimal", step: field.kind === "integer" ? "1" : "any",
      min: field.min, max: field.max });
  } else if (field.kind === "datetime") {
    control = h("input", { type: "datetime-local", name: field.name });
  } else if ((field.maxLength ?? 0) > 200) {
    control = h("textarea", { name: field.name, rows: 3, maxlength: field.maxLength });
  } else {
    control = h("input", { type: "text", name: field.name, maxlength: field.maxLength, autocomplete: "off" });
  }
  return h("label", { class: "field" }, label(field), control);
}

/** The request body from the form: empty optional fields are left out so the API's defaults apply. */
export function bodyOf(form, fields) {
  const out = {};
  for (const field of fields) {
    const key = field.name.split(".").pop();
    if (field.kind === "object") {
      const inner = bodyOf(form, field.fields);
      if (Object.keys(inner).length) out[key] = inner;
      continue;
    }
    const el = form.elements.namedItem(field.name);
    if (!el) continue;
    if (field.kind === "boolean") { out[key] = el.checked; continue; }
    const raw = el.value.trim();
    if (raw === "") {
      if (field.required && field.kind === "string") out[key] = "";  // let the API say what is missing
      continue;
    }
    if (field.kind === "integer" || field.kind === "number") out[key] = Number(raw);
    else if (field.kind === "datetime") out[key] = new Date(raw).toISOString();
    else out[key] = raw;
  }
  return out;
}

/** The form for one action on a lead; onDone(result) after the API accepted it. */
export async function actionForm(lead, action, { onDone, onCancel }) {
  const fields = await commandFields(action);
  const error = h("div", { class: "form-error", testid: "action-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", testid: "submit-action" }, t("action." + action));
  const form = h("form", { class: "action-form card", testid: "action-form", novalidate: true, data: { action } },
    h("h3", {}, t("action." + action)),
    await Promise.all(fields.map((f) => input(f, lead))),
    error,
    h("div", { class: "form-buttons" }, submit,
      h("button", { type: "button", class: "ghost", on: { click: () => onCancel?.() } }, t("ui.cancel"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const result = await post(actionPath(lead.lead_id, action), bodyOf(form, fields));
      onDone?.(result);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  return form;
}
