// Bar charts as inline SVG: stacked bars (runs per hour by status) and plain bars
// (duration per run). Colours come from CSS classes (status-*), text from the caller.

import { h, s } from "./dom.js";

const W = 960;
const H = 240;
// Room for tick labels plus the axis titles (x below, y rotated on the left).
const PAD = { top: 26, right: 12, bottom: 46, left: 56 };

/** A "nice" axis maximum: 4 equal steps of 1, 2, 2.5 or 5 × 10^n (integers if asked). */
function niceMax(max, integer = false) {
  if (!(max > 0)) return integer ? 4 : 1;
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 2.5, 5, 10]) {
    const size = step * power;
    if (integer && !Number.isInteger(size)) continue;
    if (size >= raw) return size * 4;
  }
  return 40 * power;
}

function axis(maxValue, formatTick) {
  const plotH = H - PAD.top - PAD.bottom;
  const nodes = [];
  for (let i = 0; i <= 4; i++) {
    const value = (maxValue * i) / 4;
    const y = PAD.top + plotH - (plotH * i) / 4;
    nodes.push(
      s("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      s(
        "text",
        { class: "tick", x: PAD.left - 6, y: y + 4, "text-anchor": "end" },
        formatTick(value),
      ),
    );
  }
  return nodes;
}

/** The axes' titles: what the x axis counts along (below it), and the y axis' quantity
 * and unit (above it, level: rotated text reads badly in Chinese). */
function axisTitles(xLabel, yLabel) {
  return [
    xLabel
      ? s(
          "text",
          { class: "axis-title", x: PAD.left + (W - PAD.left - PAD.right) / 2, y: H - 6 },
          xLabel,
        )
      : null,
    yLabel
      ? s("text", { class: "axis-title axis-title-y", x: 4, y: 14, "text-anchor": "start" }, yLabel)
      : null,
  ];
}

function frame(title, desc, children) {
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": title,
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", {}, title),
    desc ? s("desc", {}, desc) : null,
    children,
  );
}

/**
 * Stacked bars. labels: x labels (one per bar, in each bar's tooltip); series: [{key,
 * label, values}] stacked bottom-up, each coloured by the class `status-${key}`.
 * `tickAt(label, i)` says which labels the x axis shows; `xLabel` / `yLabel` title the axes.
 */
export function stackedBars({
  title,
  desc,
  labels,
  series,
  tickAt = (_, i) => i % 3 === 0,
  formatTick = String,
  xLabel,
  yLabel,
}) {
  const totals = labels.map((_, i) => series.reduce((sum, ser) => sum + (ser.values[i] || 0), 0));
  const max = niceMax(Math.max(...totals, 0), true);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / labels.length;
  const barW = Math.max(2, slot * 0.7);
  const bars = [];
  labels.forEach((label, i) => {
    let y = PAD.top + plotH;
    const x = PAD.left + i * slot + (slot - barW) / 2;
    for (const ser of series) {
      const value = ser.values[i] || 0;
      if (!value) continue;
      const height = (value / max) * plotH;
      y -= height;
      bars.push(
        s(
          "rect",
          {
            class: `bar status-${ser.key}`,
            x: x.toFixed(1),
            y: y.toFixed(1),
            width: barW.toFixed(1),
            height: Math.max(height, 0.5).toFixed(1),
          },
          s("title", {}, `${label} · ${ser.label}: ${value}`),
        ),
      );
    }
    if (tickAt(label, i)) {
      // At the bar's left edge: the label is the start of the bar's period.
      bars.push(
        s(
          "text",
          { class: "tick tick-x", x: (PAD.left + i * slot).toFixed(1), y: H - 28, "text-anchor": "middle" },
          label,
        ),
      );
    }
  });
  return frame(title, desc, [...axis(max, formatTick), ...bars, ...axisTitles(xLabel, yLabel)]);
}

/** One bar per item: [{value, cls, label}] (value null: no bar); ticks via formatTick;
 * `xLabel` / `yLabel` title the axes. */
export function bars({ title, desc, items, formatTick = String, xLabel, yLabel }) {
  const max = niceMax(Math.max(...items.map((it) => it.value || 0), 0));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(items.length, 1);
  const barW = Math.max(2, Math.min(slot * 0.7, 40));
  const nodes = items.map((item, i) => {
    const value = item.value || 0;
    const height = Math.max((value / max) * plotH, 1);
    const x = PAD.left + i * slot + (slot - barW) / 2;
    return s(
      "rect",
      {
        class: `bar ${item.cls || ""}`,
        x: x.toFixed(1),
        y: (PAD.top + plotH - height).toFixed(1),
        width: barW.toFixed(1),
        height: height.toFixed(1),
      },
      s("title", {}, item.label),
    );
  });
  return frame(title, desc, [...axis(max, formatTick), ...nodes, ...axisTitles(xLabel, yLabel)]);
}

/** A legend (HTML list) for series keys: [{key, label}], swatches coloured by status-*. */
export function legend(entries) {
  return h(
    "ul",
    { class: "legend" },
    entries.map((e) =>
      h("li", {}, h("span", { class: `swatch status-${e.key}`, "aria-hidden": "true" }), e.label),
    ),
  );
}
