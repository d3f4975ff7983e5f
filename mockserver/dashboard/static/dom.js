// Building the page from data without ever parsing data as HTML: every string
// becomes a text node or an attribute value.

/** An element: h("td", {class: "num"}, "42", h("span", {}, "x")). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace a container's children, keeping keyboard focus on the element with
 * the same data-focus-key (a poll must never throw a keyboard user out). */
export function rerender(container, ...nodes) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  container.replaceChildren(...nodes.flat(Infinity));
  if (key !== undefined) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/** Run render(data) only when data differs from the last call under this key. */
export class ChangeGate {
  constructor() {
    this.seen = new Map();
  }
  pass(key, data) {
    const text = JSON.stringify(data);
    if (this.seen.get(key) === text) return false;
    this.seen.set(key, text);
    return true;
  }
  clear() {
    this.seen.clear();
  }
}

/** <details> elements that stay open across re-renders. */
export class OpenSet {
  constructor() {
    this.keys = new Set();
  }
  details(key, summary, body) {
    const el = h("details", { "data-key": key, open: this.keys.has(key) }, summary, body);
    el.addEventListener("toggle", () => {
      if (el.open) this.keys.add(key);
      else this.keys.delete(key);
    });
    return el;
  }
}

const STATUS_CLASS = {
  processing: "warn",
  pending: "warn",
  sending: "warn",
  completed: "ok",
  delivered: "ok",
  failed: "bad",
  blocked: "bad",
};

/** A coloured label whose text says the same thing (colour is never the only cue). */
export function badge(text, kind = STATUS_CLASS[text] || "neutral") {
  return h("span", { class: `badge badge-${kind}` }, text);
}

export function httpBadge(status) {
  const kind = status < 300 ? "ok" : status < 400 ? "neutral" : status < 500 ? "warn" : "bad";
  return badge(String(status), kind);
}

let today = ""; // the simulated date, "2026-06-03"

/** Follow the simulated date; true when it changed (short times must be redrawn). */
export function setToday(iso) {
  const date = iso.slice(0, 10);
  const changed = date !== today;
  today = date;
  return changed;
}

/** "2026-06-03T10:00:00.000Z" as "10:00:00" on the simulated today, else
 * "06-02 10:00"; in full in details. */
export function shortTime(iso) {
  if (!iso) return "—";
  return iso.startsWith(today) ? iso.slice(11, 19) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

export function fullTime(iso) {
  return iso ? iso.replace("T", " ").replace("Z", " UTC") : "—";
}

export function timeEl(iso, format = shortTime) {
  return iso ? h("time", { datetime: iso }, format(iso)) : "—";
}

/** A definition list's items from [term, value, wide?] triples, skipping empty values. */
export function facts(pairs) {
  return pairs
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([term, value, wide]) =>
      h("div", { class: wide ? "fact wide" : "fact" }, h("dt", {}, term), h("dd", {}, value)),
    );
}

/** A body as sent: pretty JSON when it parses, else the text itself. */
export function prettyBody(text) {
  if (!text) return "(empty)";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function headerLines(headers) {
  const lines = Object.entries(headers || {}).map(([name, value]) => `${name}: ${value}`);
  return lines.length ? lines.join("\n") : "(none)";
}
