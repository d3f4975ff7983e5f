// The clock, accounts with their ledger, and fault rules: each shown and steered.

import { api, part } from "./api.js";
import { ChangeGate, facts, fullTime, h, rerender, timeEl } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class ClockPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.gate = new ChangeGate();
    $("advance-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.advance(Number($("advance-seconds").value));
    });
    for (const button of document.querySelectorAll("button[data-advance]")) {
      button.addEventListener("click", () => this.advance(Number(button.dataset.advance)));
    }
  }

  clear() {
    this.gate.clear();
    const now = $("clock-now");
    now.textContent = "—";
    now.removeAttribute("datetime");
    $("clock-mode").textContent = "";
    rerender($("clock-facts"));
  }

  update(clock) {
    if (!this.gate.pass("clock", clock)) return;
    const now = $("clock-now");
    now.textContent = fullTime(clock.now);
    now.setAttribute("datetime", clock.now);
    $("clock-mode").textContent = `${clock.mode} clock`;
    rerender(
      $("clock-facts"),
      facts([
        ["Now", timeEl(clock.now, fullTime)],
        [
          "Mode",
          clock.mode === "manual"
            ? "manual: moves only when advanced"
            : "real: follows the wall clock",
        ],
        ["Time scale", clock.mode === "real" ? `${clock.time_scale}×` : null],
      ]),
    );
  }

  async advance(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) {
      this.ctx.announce("Enter a number of seconds of 0 or more.");
      return;
    }
    try {
      const answer = await api("/__admin/clock/advance", { method: "POST", body: { seconds } });
      this.ctx.announce(`Clock advanced by ${seconds} s; now ${fullTime(answer.now)}.`);
    } catch (error) {
      this.ctx.failed("Could not advance the clock", error);
    }
    this.ctx.refresh();
  }
}

function accountKey(account) {
  return JSON.stringify([account.provider, account.id]);
}

/** Enough of a key to recognise it, never all of it. */
function maskedKeys(keys) {
  const live = keys.filter((k) => !k.revoked);
  if (!keys.length) return "none";
  const shown = live.map((k) => `${k.key.slice(0, 4)}…`).join(", ");
  const revoked = keys.length - live.length;
  return revoked ? `${shown || "—"} (+${revoked} revoked)` : shown;
}

export class AccountsPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.gate = new ChangeGate();
    this.selected = null; // JSON [provider, id]
    $("balance-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.setBalance();
    });
    $("balance-account").addEventListener("change", (event) =>
      this.select(event.target.value, false),
    );
  }

  clear() {
    this.gate.clear();
    this.selected = null;
    rerender($("account-rows"));
    rerender($("balance-account"));
    rerender($("ledger-rows"));
    $("ledger-heading").textContent = "Ledger";
    $("ledger").hidden = true;
  }

  fetchLedger() {
    if (!this.selected) return Promise.resolve(null);
    const [provider, id] = JSON.parse(this.selected);
    return api(`/__admin/accounts/${part(provider)}/${part(id)}/ledger`).catch((error) => {
      if (error.status === 404) return null;
      throw error;
    });
  }

  update(accounts, ledger) {
    if (this.gate.pass("accounts", [accounts, this.selected])) {
      rerender(
        $("account-rows"),
        accounts.map((a) => this.row(a)),
      );
      this.options(accounts);
    }
    const shown = Boolean(this.selected && ledger);
    $("ledger").hidden = !shown;
    if (shown && this.gate.pass("ledger", [this.selected, ledger])) {
      const [provider, id] = JSON.parse(this.selected);
      $("ledger-heading").textContent = `Ledger of ${provider} / ${id}`;
      rerender($("ledger-rows"), ledgerRows(ledger));
    }
  }

  row(account) {
    const key = accountKey(account);
    const current = key === this.selected;
    const open = h(
      "button",
      {
        type: "button",
        class: "link",
        "data-focus-key": `account:${key}`,
        "aria-pressed": current ? "true" : "false",
        onclick: () => this.select(key, true),
      },
      account.id,
    );
    return h(
      "tr",
      { class: current ? "selected" : null },
      h("th", { scope: "row" }, open),
      h("td", {}, account.provider),
      h("td", { class: "num" }, account.credits),
      h("td", { class: "mono" }, maskedKeys(account.keys)),
    );
  }

  options(accounts) {
    const select = $("balance-account");
    const keep = this.selected || select.value;
    rerender(
      select,
      accounts.map((a) =>
        h("option", { value: accountKey(a) }, `${a.provider} / ${a.id} (${a.credits})`),
      ),
    );
    if (keep && accounts.some((a) => accountKey(a) === keep)) select.value = keep;
  }

  select(key, focusLedger) {
    this.selected = key;
    $("balance-account").value = key;
    this.gate.clear();
    this.ctx.refresh().then(() => {
      if (focusLedger && !$("ledger").hidden) $("ledger-heading").focus();
    });
  }

  async setBalance() {
    const key = $("balance-account").value;
    const credits = Number($("balance-credits").value);
    if (!key || !Number.isInteger(credits) || credits < 0) {
      this.ctx.announce("Choose an account and a whole number of credits of 0 or more.");
      return;
    }
    const [provider, id] = JSON.parse(key);
    try {
      const account = await api(`/__admin/accounts/${part(provider)}/${part(id)}`, {
        method: "PATCH",
        body: { credits },
      });
      this.selected = key;
      this.ctx.announce(`Balance of ${provider} / ${id} set to ${account.credits} credits.`);
    } catch (error) {
      this.ctx.failed(`Could not set the balance of ${provider} / ${id}`, error);
    }
    this.ctx.refresh();
  }
}

function ledgerRows(ledger) {
  const rows = [...ledger.entries]
    .reverse()
    .map((e) =>
      h(
        "tr",
        {},
        h("td", {}, timeEl(e.at)),
        h("td", {}, e.kind),
        h("td", { class: "num" }, e.amount > 0 ? `+${e.amount}` : e.amount),
        h("td", { class: "num" }, e.balance),
        h("td", { class: "wrap" }, [
          e.task_id ? h("span", { class: "mono" }, e.task_id) : null,
          e.task_id && e.note ? " · " : null,
          e.note,
        ]),
      ),
    );
  rows.push(
    h(
      "tr",
      {},
      h("td", {}, "—"),
      h("td", {}, "opening"),
      h("td", { class: "num" }, ""),
      h("td", { class: "num" }, ledger.opening),
      h("td", {}, ""),
    ),
  );
  return rows;
}

export class FaultsPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.gate = new ChangeGate();
    this.errors = {};
    const form = $("fault-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    form.elements.provider.addEventListener("change", () => this.errorChoices());
  }

  clear() {
    this.gate.clear();
    rerender($("fault-list"));
    rerender($("fault-errors"));
  }

  options(meta) {
    this.errors = meta.errors;
    const effect = $("fault-form").elements.effect;
    const chosen = effect.value || "error";
    rerender(
      effect,
      meta.effects.map((name) => h("option", { value: name }, name)),
    );
    effect.value = chosen;
    this.errorChoices();
  }

  errorChoices() {
    const names = this.errors[$("fault-form").elements.provider.value] || [];
    rerender(
      $("fault-errors"),
      names.map((name) => h("option", { value: name })),
    );
  }

  update(faults) {
    if (!this.gate.pass("faults", faults)) return;
    rerender(
      $("fault-list"),
      faults.map((rule) => this.item(rule)),
    );
    $("fault-empty").hidden = faults.length > 0;
  }

  item(rule) {
    const what =
      rule.effect === "error"
        ? `error ${rule.error}`
        : rule.effect === "latency"
          ? `latency ${rule.latency_ms} ms`
          : rule.effect;
    const where = [
      rule.provider || "any provider",
      rule.method || "any method",
      rule.path || "any path",
    ];
    if (rule.account) where.push(`account ${rule.account}`);
    if (rule.key) where.push(`key ${rule.key}`);
    const when =
      rule.times == null
        ? "every request"
        : `next ${rule.times} request${rule.times === 1 ? "" : "s"}`;
    const odds = rule.probability < 1 ? `, probability ${rule.probability}` : "";
    return h(
      "li",
      { class: "fault" },
      h(
        "div",
        { class: "fault-text" },
        h("strong", {}, what),
        h(
          "span",
          { class: "meta" },
          ` on ${where.join(", ")}; ${when}${odds}; fired ${rule.hits} time${rule.hits === 1 ? "" : "s"}`,
        ),
        h("span", { class: "meta mono" }, ` (${rule.id})`),
      ),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Remove fault ${rule.id}`,
          "data-focus-key": `fault:${rule.id}`,
          onclick: () => this.remove(rule.id),
        },
        "Remove",
      ),
    );
  }

  body() {
    const form = $("fault-form").elements;
    const text = (name) => form[name].value.trim();
    const whole = (name) => (text(name) === "" ? undefined : Number(text(name)));
    const effect = form.effect.value;
    const body = {
      effect,
      provider: text("provider") || undefined,
      method: text("method") || undefined,
      path: text("path") || undefined,
      error: effect === "error" ? text("error") : undefined,
      times: whole("times"),
      retry_after: whole("retry_after"),
      latency_ms: whole("latency_ms"),
      message: text("message") || undefined,
    };
    return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
  }

  async add() {
    try {
      const rule = await api("/__admin/faults", { method: "POST", body: this.body() });
      this.ctx.announce(`Added fault ${rule.id}.`);
    } catch (error) {
      this.ctx.failed("Could not add the fault", error);
    }
    this.ctx.refresh();
  }

  async remove(id) {
    try {
      await api(`/__admin/faults/${part(id)}`, { method: "DELETE" });
      this.ctx.announce(`Removed fault ${id}.`);
      $("faults-heading").focus();
    } catch (error) {
      this.ctx.failed(`Could not remove fault ${id}`, error);
    }
    this.ctx.refresh();
  }
}
