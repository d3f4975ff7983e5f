// The request journal (filtered by the form above it) and webhook deliveries,
// each entry a disclosure holding the whole exchange.

import { api, query } from "./api.js";
import {
  ChangeGate,
  OpenSet,
  badge,
  facts,
  fullTime,
  h,
  headerLines,
  httpBadge,
  prettyBody,
  rerender,
  shortTime,
  timeEl,
} from "./dom.js";

const $ = (id) => document.getElementById(id);
const JOURNAL_LIMIT = 50;

export class JournalPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.gate = new ChangeGate();
    this.open = new OpenSet();
    let pending = null;
    const form = $("journal-filter");
    const changed = () => {
      clearTimeout(pending);
      pending = setTimeout(() => ctx.refresh(), 250);
    };
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ctx.refresh();
    });
  }

  clear() {
    this.gate.clear();
    rerender($("journal-list"));
    rerender($("webhook-list"));
  }

  fetchJournal() {
    const form = $("journal-filter").elements;
    const status = form.status.value.trim();
    const params = {
      provider: form.provider.value,
      method: form.method.value,
      path: form.path.value.trim(),
      status: /^\d{3}$/.test(status) ? status : "",
      limit: JOURNAL_LIMIT,
    };
    return api(`/__admin/journal${query(params)}`);
  }

  update(journal, webhooks) {
    if (this.gate.pass("journal", journal.entries)) {
      rerender(
        $("journal-list"),
        journal.entries.map((e) => this.entry(e)),
      );
      $("journal-empty").hidden = journal.entries.length > 0;
    }
    if (this.gate.pass("webhooks", webhooks.deliveries)) {
      rerender(
        $("webhook-list"),
        webhooks.deliveries.map((d) => this.delivery(d)),
      );
      $("webhook-empty").hidden = webhooks.deliveries.length > 0;
    }
  }

  entry(e) {
    const search = e.query ? `?${e.query}` : "";
    const summary = h(
      "summary",
      { "data-focus-key": `journal:${e.id}` },
      httpBadge(e.status),
      " ",
      h("span", { class: "method" }, e.method),
      " ",
      h("span", { class: "path mono" }, e.path + search),
      " ",
      h("span", { class: "meta" }, `${e.provider} · `, timeEl(e.at, shortTime)),
      e.fault ? [" ", badge(`fault ${e.fault}`, "bad")] : null,
    );
    const body = h(
      "div",
      { class: "exchange" },
      h(
        "dl",
        { class: "facts" },
        facts([
          ["At", timeEl(e.at, fullTime)],
          ["Account", e.account],
          ["Duration", `${e.duration_ms.toFixed(1)} ms`],
          ["Fault", e.fault],
        ]),
      ),
      h("h3", {}, "Request"),
      message(`${e.method} ${e.path}${search}`, e.request_headers, e.request_body),
      h("h3", {}, "Response"),
      message(String(e.status), e.response_headers, e.response_body),
    );
    return h("li", {}, this.open.details(`journal:${e.id}`, summary, body));
  }

  delivery(d) {
    const tries = d.attempts.length;
    const summary = h(
      "summary",
      { "data-focus-key": `webhook:${d.id}` },
      badge(d.state),
      " ",
      h("span", { class: "mono" }, d.task_id),
      " ",
      h("span", { class: "meta" }, `${tries} attempt${tries === 1 ? "" : "s"}`),
    );
    const attempts = d.attempts.map((a) =>
      h(
        "tr",
        {},
        h("th", { scope: "row", class: "num" }, a.number),
        h("td", {}, timeEl(a.at)),
        h("td", {}, a.outcome),
        h("td", { class: "num" }, a.status ?? "—"),
        h("td", {}, a.error ?? ""),
        h("td", { class: "num" }, a.duration_ms == null ? "—" : `${a.duration_ms.toFixed(0)} ms`),
      ),
    );
    const body = h(
      "div",
      { class: "exchange" },
      h(
        "dl",
        { class: "facts" },
        facts([
          ["URL", h("code", { class: "url" }, d.url), true],
          ["Provider", d.provider],
          ["Account", d.account],
          ["Next attempt", d.next_attempt_at ? timeEl(d.next_attempt_at, fullTime) : null],
          ["Duplicate", d.duplicate ? "yes" : null],
        ]),
      ),
      tries
        ? h(
            "div",
            {
              class: "table-scroll",
              role: "region",
              "aria-label": `Attempts of delivery ${d.id}`,
              tabindex: "0",
            },
            h(
              "table",
              {},
              h(
                "caption",
                { class: "visually-hidden" },
                `Attempts to deliver the webhook of task ${d.task_id}`,
              ),
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["#", "At", "Outcome", "Status", "Error", "Took"].map((t) =>
                    h("th", { scope: "col" }, t),
                  ),
                ),
              ),
              h("tbody", {}, attempts),
            ),
          )
        : h("p", { class: "empty" }, "No attempt yet."),
    );
    return h("li", {}, this.open.details(`webhook:${d.id}`, summary, body));
  }
}

/** One side of an exchange as it went over the wire: first line, headers, body. */
function message(firstLine, headers, body) {
  return h(
    "pre",
    { class: "http" },
    `${firstLine}\n${headerLines(headers)}\n\n${prettyBody(body)}`,
  );
}
