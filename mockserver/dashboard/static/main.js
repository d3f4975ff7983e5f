// The dashboard: poll the control API while the tab is visible, render each
// panel, and say what changed in the live region.

import { api, storedToken, storeToken } from "./api.js";
import { h, rerender, setToday } from "./dom.js";
import { JournalPanel } from "./journal.js";
import { AccountsPanel, ClockPanel, FaultsPanel } from "./panels.js";
import { TasksPanel } from "./tasks.js";

const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);

let timer = null;
let running = null; // the poll in flight
let queued = null; // the poll to run right after it
let locked = false; // the server refused the token: show nothing, poll no more
let meta = null;

/** Say something in the live region. What follows within a moment (an action,
 * then the changes it caused) is added to it, so that nothing is cut off. */
let recent = []; // [time, message]
function announce(message) {
  const now = Date.now();
  recent = [...recent.filter(([at]) => now - at < 2000).slice(-2), [now, message]];
  $("announce").textContent = recent.map(([, text]) => text).join(" ");
}

function failed(what, error) {
  if (error.status === 401) {
    lockOut(error);
    return;
  }
  announce(`${what}: ${error.message}`);
}

const ctx = { announce, failed, refresh };
const clock = new ClockPanel(ctx);
const tasks = new TasksPanel(ctx);
const journal = new JournalPanel(ctx);
const accounts = new AccountsPanel(ctx);
const faults = new FaultsPanel(ctx);
const panels = [clock, tasks, journal, accounts, faults];

function setPollState(text) {
  $("poll-state").textContent = text;
}

function showProblem(message) {
  const box = $("problem");
  if (!message) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  if (box.textContent !== message) box.textContent = message;
  box.hidden = false;
}

/** Forget every piece of data on the page: without the token, nothing from the store shows. */
function lockOut(error) {
  const firstTime = !locked;
  locked = true;
  meta = null;
  recent = [];
  $("announce").textContent = "";
  clearTimeout(timer);
  $("data").hidden = true;
  for (const panel of panels) panel.clear();
  const message = storedToken()
    ? "Token refused: the simulator did not accept this admin token. Enter the right one above."
    : "Token required: this simulator was started with an admin token. Enter it above to see its data.";
  showProblem(error.code === "bad_token" ? error.message : message);
  setPollState("Waiting for the admin token");
  if (firstTime) $("token-input").focus();
}

function fillProviders(providers) {
  for (const select of document.querySelectorAll("select[data-providers]")) {
    const first = select.options[0];
    const value = select.value;
    rerender(
      select,
      first,
      providers.map((name) => h("option", { value: name }, name)),
    );
    select.value = value;
  }
}

async function pollOnce() {
  if (!meta) {
    meta = await api("/__admin/ui/api/fault-options");
    fillProviders(meta.providers);
    faults.options(meta);
  }
  const [now, taskList, entries, deliveries, accountList, faultList, detail, ledger] =
    await Promise.all([
      api("/__admin/clock"),
      api("/__admin/tasks?limit=200"),
      journal.fetchJournal(),
      api("/__admin/webhooks"),
      api("/__admin/accounts"),
      api("/__admin/faults"),
      tasks.fetchDetail(),
      accounts.fetchLedger(),
    ]);
  locked = false;
  showProblem("");
  $("data").hidden = false;
  if (setToday(now.now)) for (const panel of panels) panel.gate.clear();
  clock.update(now);
  tasks.update(taskList.tasks, detail);
  journal.update(entries, deliveries);
  accounts.update(accountList.accounts, ledger);
  faults.update(faultList.faults);
}

async function pollAndRender() {
  try {
    await pollOnce();
    setPollState(`Live: updates every ${POLL_MS / 1000} s`);
  } catch (error) {
    if (error.status === 401) lockOut(error);
    else if (error.status === 0) {
      showProblem(error.message);
      setPollState("Connection lost");
    } else showProblem(`The control API answered ${error.status}: ${error.message}`);
  }
}

/** Poll now, or right after the poll in flight (an action may have changed
 * what it read); resolves once the page shows the result. */
function refresh() {
  if (running) {
    queued ??= running.then(() => {
      queued = null;
      return refresh();
    });
    return queued;
  }
  clearTimeout(timer);
  if (document.hidden) {
    setPollState("Paused while this tab is hidden");
    return Promise.resolve();
  }
  running = pollAndRender().finally(() => {
    running = null;
    if (!queued && !locked && !document.hidden) timer = setTimeout(refresh, POLL_MS);
  });
  return running;
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("token-input");
  storeToken(input.value.trim());
  input.value = "";
  locked = false;
  announce(storedToken() ? "Admin token saved for this tab." : "No admin token set.");
  refresh();
});

$("token-forget").addEventListener("click", () => {
  storeToken("");
  $("token-input").value = "";
  locked = false;
  announce("Admin token forgotten.");
  refresh();
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(timer);
    setPollState("Paused while this tab is hidden");
  } else if (!locked) refresh();
});

refresh();
