// A workflow drawn as a layered graph in SVG: one column per layer (a step sits one
// column right of its deepest upstream step, as the API's `layers` say), arrows from a
// step to the steps after it. No layout library: columns and rows are enough for the
// small DAGs workflows are.

import { h, s } from "./dom.js";
import { t } from "./i18n.js";
import { fmtDuration, fmtTime, retryAtText, waitsForRetry } from "./components.js";

// A graph's nodes are as wide as its longest name or detail needs (measured in the
// page's font: name bold 13 px, detail 12 px), from MIN_W up to MAX_W; a text longer
// still ends in an ellipsis, the whole text in the node's tooltip.
const MIN_W = 188;
const MAX_W = 340;
const TEXT_X = 12;
const NAME_FONT = "600 13px";
const DETAIL_FONT = "12px";
const NODE_H = 52;
const COL_GAP = 64;
const ROW_GAP = 22;
const PAD = 12;

/** The text of a step's state: a run status, or waiting / ready / skipped. */
export function stateText(state) {
  return state === "waiting" || state === "ready" ? t(`state_${state}`) : t(`status_${state}`);
}

/** When a step's run retries, short enough for a node: "10:05:00", another day "12-07 10:05". */
function shortTime(iso) {
  const at = fmtTime(iso);
  const today = fmtTime(new Date().toISOString()).slice(0, 10);
  return at.slice(0, 10) === today ? at.slice(11, 19) : `${at.slice(5, 10)} ${at.slice(11, 16)}`;
}

/** [what the node shows, what its label says] of a step with a state. */
function stateDetail(step) {
  const run = step.run;
  if (waitsForRetry(run)) {
    const at = retryAtText(run);
    const shown = at ? t("retry_at_short", { time: shortTime(run.not_before) }) : t("retry_wait");
    return [shown, [t("retry_wait"), at].filter(Boolean).join(" · ")];
  }
  const text = [stateText(step.state), run?.duration != null ? fmtDuration(run.duration) : null]
    .filter(Boolean)
    .join(" · ");
  return [text, text];
}

let measure = null;
let family = null;

/** The width in px of `text` drawn in `font` ("600 13px") of the page's font family. */
function textWidth(text, font) {
  if (!measure) {
    measure = document.createElement("canvas").getContext("2d");
    family = getComputedStyle(document.body).fontFamily || "sans-serif";
  }
  measure.font = `${font} ${family}`;
  return measure.measureText(text).width;
}

/** `text`, or its longest start that fits `width` px with an ellipsis. */
function fit(text, font, width) {
  if (textWidth(text, font) <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(`${text.slice(0, mid)}…`, font) <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/** The node width of a graph: its widest name or detail, within MIN_W..MAX_W. */
function nodeWidth(steps, details) {
  let widest = 0;
  for (const step of steps) {
    widest = Math.max(
      widest,
      textWidth(step.name, NAME_FONT),
      textWidth(details[step.name][0], DETAIL_FONT),
    );
  }
  return Math.min(MAX_W, Math.max(MIN_W, Math.ceil(widest) + TEXT_X * 2));
}

function edgePath(from, to, nodeW) {
  const x1 = from.x + nodeW;
  const y1 = from.y + NODE_H / 2;
  const x2 = to.x - 6;
  const y2 = to.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
}

/**
 * workflowGraph({name, layers, steps, onStep}) -> <figure> with the SVG.
 * `steps`: [{name, task, after, on, state?, run?}]; `onStep(step)` makes nodes with a
 * run clickable (Enter / click).
 */
export function workflowGraph({ name, layers, steps, onStep }) {
  const byName = Object.fromEntries(steps.map((st) => [st.name, st]));
  // [what the node shows under its name, what its label says]
  const details = Object.fromEntries(
    steps.map((st) => [st.name, st.state ? stateDetail(st) : [st.task, st.task]]),
  );
  const nodeW = nodeWidth(steps, details);
  const textW = nodeW - TEXT_X * 2;
  const pos = {};
  const tallest = Math.max(...layers.map((layer) => layer.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  layers.forEach((layer, col) => {
    const columnH = layer.length * NODE_H + (layer.length - 1) * ROW_GAP;
    const top = PAD + (height - PAD * 2 - columnH) / 2;
    layer.forEach((stepName, row) => {
      pos[stepName] = { x: PAD + col * (nodeW + COL_GAP), y: top + row * (NODE_H + ROW_GAP) };
    });
  });
  const width = PAD * 2 + layers.length * nodeW + (layers.length - 1) * COL_GAP;

  const edges = [];
  for (const step of steps) {
    for (const up of step.after) {
      edges.push(
        s("path", {
          class: `wf-edge wf-edge-${step.on}`,
          d: edgePath(pos[up], pos[step.name], nodeW),
          "marker-end": "url(#wf-arrow)",
          dataset: { from: up, to: step.name },
        }),
      );
    }
  }

  const nodes = steps.map((step) => {
    const p = pos[step.name];
    const state = step.state || "definition";
    const run = step.run;
    const [detail, said] = details[step.name];
    const clickable = Boolean(run && onStep);
    const label = `${step.name}: ${said}`;
    const node = s(
      "g",
      {
        class: ["wf-node", `wf-state-${state}`, clickable ? "wf-clickable" : null],
        transform: `translate(${p.x},${p.y})`,
        dataset: { step: step.name, state },
        tabindex: clickable ? "0" : null,
        role: clickable ? "link" : "listitem",
        "aria-label": label,
        onClick: clickable ? () => onStep(byName[step.name]) : null,
        onKeydown: clickable
          ? (e) => {
              if (e.key === "Enter") onStep(byName[step.name]);
            }
          : null,
      },
      s("title", {}, step.reason ? `${label} (${step.reason})` : label),
      s("rect", { width: nodeW, height: NODE_H, rx: 8, ry: 8 }),
      s("text", { x: TEXT_X, y: 21, class: "wf-node-name" }, fit(step.name, NAME_FONT, textW)),
      s("text", { x: TEXT_X, y: 40, class: "wf-node-detail" }, fit(detail, DETAIL_FONT, textW)),
    );
    return node;
  });

  const svg = s(
    "svg",
    {
      class: "wf-graph",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "list",
      "aria-label": t("wf_graph", { name }),
    },
    s(
      "defs",
      {},
      s(
        "marker",
        {
          id: "wf-arrow",
          viewBox: "0 0 10 10",
          refX: "8",
          refY: "5",
          markerWidth: "7",
          markerHeight: "7",
          orient: "auto-start-reverse",
        },
        s("path", { d: "M0,0 L10,5 L0,10 z", class: "wf-arrow" }),
      ),
    ),
    edges,
    nodes,
  );
  return h(
    "figure",
    { class: "wf-figure" },
    h("div", { class: "wf-scroll", tabindex: "0" }, svg),
    h("figcaption", { class: "muted" }, t("wf_graph_help")),
  );
}
