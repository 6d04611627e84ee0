// Small hand-written SVG charts: horizontal bars (readable on a phone, labels never overlap) and a
// line chart for a series over time. A bar row is clickable when the chart is drillable.

import { h, s } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
  "#ea580c", "#4f46e5", "#0d9488", "#9333ea"];

export function color(i) { return PALETTE[i % PALETTE.length]; }

/**
 * items: [{key, label, bars: [{value, text}]}]; one bar per series (series: [{name}]), each series scaled
 * to its own maximum. onPick(key) makes rows clickable (drill down).
 */
export function barChart({ testid, items, series = [{ name: "" }], onPick, width = 360 }) {
  const labelW = 128, textW = 112, rowGap = 8, barH = 14;
  const rowH = series.length * (barH + 2) + rowGap;
  const height = Math.max(rowH * items.length + 4, 24);
  const barW = width - labelW - textW;
  const max = series.map((_, i) => Math.max(0, ...items.map((it) => Number(it.bars[i]?.value) || 0)));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  items.forEach((item, row) => {
    const y0 = row * rowH + 2;
    const g = s("g", {
      class: "bar-row" + (onPick ? " pickable" : ""), data: { key: item.key ?? item.label },
      tabindex: onPick ? "0" : undefined, role: onPick ? "button" : undefined,
    });
    g.append(s("title", {}, `${item.label}: ${item.bars.map((b) => b.text).join(" / ")}`));
    g.append(s("rect", { x: 0, y: y0 - 1, width, height: rowH - rowGap + 2, class: "bar-hit" }));
    g.append(s("text", { x: labelW - 6, y: y0 + (rowH - rowGap) / 2 + 4, "text-anchor": "end", class: "bar-label" },
      truncate(item.label, 16)));
    item.bars.forEach((bar, i) => {
      const y = y0 + i * (barH + 2);
      const value = Number(bar.value) || 0;
      const w = max[i] > 0 ? Math.max(value > 0 ? 2 : 0, (value / max[i]) * barW) : 0;
      g.append(s("rect", { x: labelW, y, width: barW, height: barH, class: "bar-track", rx: 2 }));
      g.append(s("rect", { x: labelW, y, width: w, height: barH, fill: color(i), rx: 2, class: "bar" }));
      g.append(s("text", { x: labelW + barW + 4, y: y + barH - 3, class: "bar-text" }, bar.text));
    });
    if (onPick) {
      g.addEventListener("click", () => onPick(item.key));
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") onPick(item.key); });
    }
    svg.append(g);
  });
  const legend = series.length > 1 ? h("div", { class: "legend" },
    series.map((se, i) => h("span", { class: "legend-item" }, h("i", { style: { background: color(i) } }), se.name))) : null;
  return h("div", { class: "chart-box", testid }, svg, legend);
}

/**
 * lines: [{name, points: [{x, y}]}] with y in 0..1 (or null: no data); xs: the ordered x labels.
 */
export function lineChart({ testid, xs, lines, yFormat = (v) => `${Math.round(v * 100)}%`, width = 360, height = 200 }) {
  const left = 36, right = 8, top = 10, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  const x = (i) => left + (xs.length <= 1 ? plotW / 2 : (i * plotW) / (xs.length - 1));
  const y = (v) => top + plotH - v * plotH;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s("line", { x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.append(s("text", { x: left - 4, y: y(tick) + 3, "text-anchor": "end", class: "axis" }, yFormat(tick)));
  }
  const every = Math.max(1, Math.ceil(xs.length / 6));
  xs.forEach((label, i) => {
    if (i % every === 0 || i === xs.length - 1) {  // the edge labels lean inwards so none is cut off
      const anchor = xs.length > 1 && i === xs.length - 1 ? "end" : xs.length > 1 && i === 0 ? "start" : "middle";
      svg.append(s("text", { x: x(i), y: height - 10, "text-anchor": anchor, class: "axis" }, label));
    }
  });
  lines.forEach((line, li) => {
    const byX = new Map(line.points.map((p) => [p.x, p.y]));
    let d = "", pen = false;  // a gap (no data) lifts the pen
    xs.forEach((label, i) => {
      const v = byX.get(label);
      if (v === null || v === undefined) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
    });
    if (d) svg.append(s("path", { d: d.trim(), fill: "none", stroke: color(li), "stroke-width": 2, class: "line" }));
    xs.forEach((label, i) => {
      const v = byX.get(label);
      if (v === null || v === undefined) return;
      svg.append(s("circle", { cx: x(i), cy: y(v), r: 3, fill: color(li) },
        s("title", {}, `${line.name} ${label}: ${yFormat(v)}`)));
    });
  });
  const legend = h("div", { class: "legend" },
    lines.map((line, i) => h("span", { class: "legend-item" }, h("i", { style: { background: color(i) } }), line.name)));
  return h("div", { class: "chart-box", testid }, svg, legend);
}

function truncate(text, n) {
  const str = String(text ?? "");
  return str.length > n ? str.slice(0, n - 1) + "…" : str;
}
