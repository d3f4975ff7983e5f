// Tasks: the table of every provider's tasks, and one task's state, actions,
// output and timeline.

import { api, part } from "./api.js";
import { ChangeGate, badge, facts, fullTime, h, rerender, shortTime, timeEl } from "./dom.js";

const $ = (id) => document.getElementById(id);

const ACTION_DONE = {
  complete: (id) => `Task ${id} completed.`,
  fail: (id) => `Task ${id} failed.`,
  stall: (id) => `Task ${id} stalled: it stays processing until you complete or fail it.`,
};

export class TasksPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.gate = new ChangeGate();
    this.tasks = [];
    this.statuses = null; // id -> status, null until the first list
    this.selected = null;
    this.quiet = new Map(); // id -> the status an action of this page gave it (already said)
    $("task-filter").addEventListener("change", () => this.renderList(true));
    $("task-actions").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) this.act(button.dataset.action);
    });
  }

  clear() {
    this.gate.clear();
    this.tasks = [];
    this.statuses = null;
    this.selected = null;
    this.quiet.clear();
    rerender($("task-rows"));
    this.hideDetail();
  }

  /** The selected task's record, output URLs and journal entries (or null). */
  async fetchDetail() {
    const id = this.selected;
    if (!id) return null;
    try {
      const [task, media, journal] = await Promise.all([
        api(`/__admin/tasks/${part(id)}`),
        api(`/__admin/ui/api/tasks/${part(id)}/media`),
        api(`/__admin/ui/api/tasks/${part(id)}/journal`),
      ]);
      return { id, task, media, entries: journal.entries };
    } catch (error) {
      if (error.status === 404) return { id, gone: true };
      throw error;
    }
  }

  update(tasks, detail) {
    this.announceChanges(tasks);
    this.tasks = tasks;
    this.renderList(false);
    if (detail && detail.id === this.selected) this.renderDetail(detail);
  }

  announceChanges(tasks) {
    const before = this.statuses;
    this.statuses = new Map(tasks.map((t) => [t.id, t.status]));
    if (!before) return;
    const news = [];
    for (const task of tasks) {
      const old = before.get(task.id);
      if (old === undefined) news.push(`New task ${task.id} (${task.provider}), ${task.status}.`);
      else if (old !== task.status && this.quiet.get(task.id) !== task.status) {
        news.push(`Task ${task.id} is now ${task.status}.`);
      }
    }
    if (news.length) this.ctx.announce(news.slice(0, 5).join(" "));
  }

  renderList(force) {
    const form = $("task-filter");
    const provider = form.elements.provider.value;
    const status = form.elements.status.value;
    const shown = this.tasks.filter(
      (t) => (!provider || t.provider === provider) && (!status || t.status === status),
    );
    if (force) this.gate.clear();
    if (!this.gate.pass("list", [shown, this.selected])) return;
    rerender(
      $("task-rows"),
      shown.map((task) => this.row(task)),
    );
    $("task-empty").hidden = shown.length > 0;
    $("task-empty").textContent = this.tasks.length
      ? "No task matches these filters."
      : "No tasks yet.";
  }

  row(task) {
    const current = task.id === this.selected;
    const open = h(
      "button",
      {
        type: "button",
        class: "link mono",
        "data-focus-key": `task:${task.id}`,
        "aria-pressed": current ? "true" : "false",
        onclick: () => this.select(task.id),
      },
      task.id,
    );
    return h(
      "tr",
      { class: current ? "selected" : null },
      h("th", { scope: "row" }, open),
      h("td", {}, badge(task.status)),
      h("td", {}, task.provider),
      h("td", {}, task.account),
      h("td", { class: "num" }, task.credits),
      h("td", {}, timeEl(task.created_at)),
      h("td", {}, task.status !== "processing" ? "—" : task.due_at ? timeEl(task.due_at) : "never"),
    );
  }

  select(id) {
    this.selected = id;
    this.gate.clear();
    this.renderList(true);
    const detail = $("task-detail");
    detail.hidden = false;
    rerender($("task-facts"));
    rerender($("task-output"), h("p", { class: "empty" }, "Loading…"));
    rerender($("task-timeline"));
    $("task-detail-heading").textContent = `Task ${id}`;
    $("task-detail-heading").focus();
    this.ctx.refresh();
  }

  hideDetail() {
    $("task-detail").hidden = true;
    $("task-detail-heading").textContent = "Task";
    $("fail-message").value = "";
    rerender($("task-facts"));
    rerender($("task-output"));
    rerender($("task-timeline"));
  }

  renderDetail(detail) {
    if (detail.gone) {
      this.selected = null;
      this.hideDetail();
      this.ctx.announce(`Task ${detail.id} no longer exists.`);
      return;
    }
    const { task, media, entries } = detail;
    if (this.gate.pass("facts", task)) rerender($("task-facts"), taskFacts(task));
    const ended = task.status !== "processing";
    for (const button of $("task-actions").querySelectorAll("button[data-action]")) {
      button.disabled = ended;
    }
    $("task-actions-hint").hidden = !ended;
    if (this.gate.pass("output", [task.id, task.status, media])) {
      rerender($("task-output"), output(task, media));
    }
    if (this.gate.pass("timeline", [task, entries])) {
      rerender($("task-timeline"), timeline(task, entries));
    }
  }

  async act(action) {
    const id = this.selected;
    if (!id) return;
    const message = $("fail-message").value.trim();
    const body = action === "fail" && message ? { message } : undefined;
    try {
      const task = await api(`/__admin/tasks/${part(id)}/${action}`, { method: "POST", body });
      this.quiet.set(id, task.status);
      this.ctx.announce(ACTION_DONE[action](id));
    } catch (error) {
      this.ctx.failed(`Could not ${action} task ${id}`, error);
    }
    this.ctx.refresh();
  }
}

function taskFacts(task) {
  const params = task.params || {};
  return facts([
    ["Status", badge(task.status)],
    ["Provider", task.provider],
    ["Account", task.account],
    ["Credits charged", String(task.credits)],
    ["Credits refunded", String(task.refunded)],
    ["Planned outcome", task.planned],
    ["Created", timeEl(task.created_at, fullTime)],
    [
      "Due",
      task.status === "processing"
        ? task.due_at
          ? timeEl(task.due_at, fullTime)
          : "never (stalled)"
        : null,
    ],
    ["Updated", timeEl(task.updated_at, fullTime)],
    ["Prompt", params.prompt, true],
    [
      "Size",
      `${task.media.width}×${task.media.height}, ${task.media.frames} frames at ${task.media.fps} fps`,
    ],
    ["Seed", String(task.seed)],
    ["Callback URL", task.callback_url],
    ["Error", task.error ? `${task.error.code}: ${task.error.message}` : null, true],
  ]);
}

function sameOriginMedia(path) {
  return typeof path === "string" && path.startsWith("/__media/") ? path : null;
}

function output(task, media) {
  if (task.status === "failed") return h("p", { class: "empty" }, "Failed: no output.");
  const video = sameOriginMedia(media.video_path);
  const frame = sameOriginMedia(media.last_frame_path);
  if (!media.ready || !video || !frame) {
    return h("p", { class: "empty" }, "The video appears here when the task completes.");
  }
  return [
    h("video", {
      controls: true,
      preload: "auto",
      muted: true,
      playsinline: true,
      src: video,
      class: "output-video",
      "aria-label": `Output video of task ${task.id}`,
    }),
    h(
      "dl",
      { class: "facts" },
      facts([
        ["Video URL", h("code", { class: "url" }, media.video_url), true],
        ["Last frame URL", h("code", { class: "url" }, media.last_frame_url), true],
      ]),
    ),
    h(
      "figure",
      { class: "last-frame" },
      h("img", { src: frame, alt: `Last frame of task ${task.id}`, loading: "lazy" }),
      h("figcaption", {}, "Last frame"),
    ),
  ];
}

function timeline(task, entries) {
  const events = [{ at: task.created_at, order: 0, text: "Created", kind: "event" }];
  for (const entry of [...entries].reverse()) {
    const query = entry.query ? `?${entry.query}` : "";
    const fault = entry.fault ? ` (fault ${entry.fault})` : "";
    events.push({
      at: entry.at,
      order: 1,
      text: `${entry.method} ${entry.path}${query} → ${entry.status}${fault}`,
      kind: "request",
    });
  }
  if (task.status !== "processing") {
    events.push({ at: task.updated_at, order: 2, text: `Became ${task.status}`, kind: "event" });
  } else if (task.due_at) {
    events.push({
      at: task.due_at,
      order: 2,
      text: `Due: planned to become ${task.planned}`,
      kind: "due",
    });
  }
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.order - b.order));
  const items = events.map((e) =>
    h("li", { class: `tl-${e.kind}` }, timeEl(e.at, shortTime), " ", h("span", {}, e.text)),
  );
  if (task.status === "processing" && !task.due_at) {
    items.push(h("li", { class: "tl-due" }, "Stalled: no end planned"));
  }
  return items;
}
