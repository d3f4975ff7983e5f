"""The dashboard at /__admin/ui, in a real Chromium against a real server.

Each test drives the page as a user would (clicks, typing) and checks what
the page shows and, after an action, what the control API answers.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.dashboard.browser import DESKTOP, PHONE, Watched, axe_violations
from tests.dashboard.conftest import OpenPage, StartServer
from tests.dashboard.served import TIMEOUT, Served

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROMPT = "A glass train crossing a snowy bridge"
H264 = 'video/mp4; codecs="avc1.42E01E"'


def task_button(page: Page, task_id: str) -> Locator:
    return page.get_by_role("button", name=task_id, exact=True)


def task_row(page: Page, task_id: str) -> Locator:
    return page.locator("#task-rows tr").filter(has=task_button(page, task_id))


def open_task(page: Page, task_id: str) -> Locator:
    task_button(page, task_id).click()
    detail = page.locator("#task-detail")
    expect(detail.get_by_role("heading", level=3)).to_have_text(f"Task {task_id}")
    expect(detail.locator("#task-facts")).not_to_be_empty()
    return detail


def announced(page: Page) -> Locator:
    return page.get_by_role("status")


# 1 -------------------------------------------------------------------------------
def test_a_task_runs_to_its_video_and_its_journal_entry(server: Served, watched: Watched) -> None:
    page = watched.page
    task_id = server.submit("k1", PROMPT)

    expect(task_row(page, task_id)).to_contain_text("processing")
    detail = open_task(page, task_id)
    expect(detail.locator("#task-output")).to_contain_text("appears here when the task completes")

    page.get_by_label("Seconds to advance").fill("300")
    page.get_by_role("button", name="Advance clock").click()
    expect(announced(page)).to_contain_text("Clock advanced by 300 s")
    expect(page.locator("#clock-now")).to_have_text("2026-06-03 10:05:00.000 UTC")
    expect(task_row(page, task_id)).to_contain_text("completed")
    expect(detail.locator("#task-timeline")).to_contain_text("POST /api/v1/video/seedance2 → 202")
    expect(detail.locator("#task-timeline")).to_contain_text("Became completed")

    video_url = server.client_view(task_id)["output"]["video_url"]
    video = detail.locator("video")
    expect(video).to_have_attribute("aria-label", f"Output video of task {task_id}")
    assert video.evaluate("v => v.src") == video_url
    media = requests.get(video_url, timeout=TIMEOUT)
    assert (media.status_code, media.headers["Content-Type"]) == (200, "video/mp4")
    if page.evaluate(f"document.createElement('video').canPlayType({H264!r})"):
        assert video.evaluate(PLAYS) == {"ready": True, "size": [1280, 720], "played": True}

    entry = page.locator("#journal-list details").filter(has_text="POST /api/v1/video/seedance2")
    expect(entry).to_have_count(1)
    entry.locator("summary").click()
    expect(entry.locator("summary")).to_contain_text("202")
    expect(entry).to_contain_text(PROMPT)
    expect(entry).to_contain_text("Authorization: Bearer [redacted]")
    expect(entry).to_contain_text(f'"id": "{task_id}"')
    assert "sk_live_demo" not in page.content()


#: wait until the video has its first frame (or fails); the page's CSP forbids
#: eval, so no wait_for_function: one promise, evaluated once
LOADED = """
async (v) => {
  if (v.readyState < 2) {
    await new Promise((resolve, reject) => {
      v.addEventListener("loadeddata", resolve, { once: true });
      v.addEventListener("error", () => reject(new Error(v.error.message)), { once: true });
    });
  }
  return v.readyState;
}
"""
#: load the video, play it a little; what the element then says
PLAYS = f"""
async (v) => {{
  await ({LOADED.strip()})(v);
  await v.play();
  const start = v.currentTime;
  await new Promise((resolve) => setTimeout(resolve, 400));
  v.pause();
  const played = v.currentTime > start;
  return {{ ready: v.readyState >= 2, size: [v.videoWidth, v.videoHeight], played }};
}}
"""


def test_journal_filters_narrow_the_list(server: Served, watched: Watched) -> None:
    page = watched.page
    task_id = server.submit("filter-1")
    server.client_view(task_id)
    requests.get(server.url("/v1/status?task_id=nope"), timeout=TIMEOUT)
    entries = page.locator("#journal-list > li")
    expect(entries).to_have_count(3)

    filters = page.locator("#journal-filter")
    filters.get_by_label("Method").select_option("GET")
    expect(entries).to_have_count(2)
    filters.get_by_label("Path prefix").fill("/api/v1/tasks")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text(f"/api/v1/tasks/{task_id}")
    filters.get_by_label("Path prefix").fill("")
    filters.get_by_label("Status").fill("401")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text("/v1/status?task_id=nope")


def test_webhook_deliveries_show_every_attempt(server: Served, watched: Watched) -> None:
    page = watched.page
    task_id = server.submit_with_webhook()
    server.admin("POST", f"/tasks/{task_id}/complete")
    server.admin("POST", "/clock/advance", json={"seconds": 15})  # the first retry is due at 10 s

    delivery = page.locator("#webhook-list details").filter(has_text=task_id)
    expect(delivery.locator("summary")).to_contain_text("2 attempts")
    delivery.locator("summary").click()
    attempts = delivery.locator("tbody tr")
    expect(attempts).to_have_count(2)
    for number, at in ((1, "10:00:00"), (2, "10:00:10")):
        expect(attempts.nth(number - 1)).to_contain_text(f"{number}{at}failed404HTTP 404")
    expect(delivery).to_contain_text(server.url("/hooks/receiver"))


# 2 -------------------------------------------------------------------------------
def test_task_actions_faults_and_balances_from_the_page(server: Served, watched: Watched) -> None:
    page = watched.page
    done, broken, stuck = (server.submit(f"act-{n}", f"{PROMPT} {n}") for n in range(3))

    open_task(page, done)
    page.get_by_role("button", name="Complete", exact=True).click()
    expect(announced(page)).to_contain_text(f"Task {done} completed.")
    assert server.admin("GET", f"/tasks/{done}")["status"] == "completed"
    expect(page.get_by_role("button", name="Complete", exact=True)).to_be_disabled()

    open_task(page, broken)
    page.get_by_label("Failure message").fill("upstream exploded")
    page.get_by_role("button", name="Fail", exact=True).click()
    expect(announced(page)).to_contain_text(f"Task {broken} failed.")
    failed = server.admin("GET", f"/tasks/{broken}")
    assert (failed["status"], failed["error"]["message"]) == ("failed", "upstream exploded")
    expect(page.locator("#task-facts")).to_contain_text("upstream exploded")

    open_task(page, stuck)
    page.get_by_role("button", name="Stall", exact=True).click()
    expect(announced(page)).to_contain_text(f"Task {stuck} stalled")
    server.admin("POST", "/clock/advance", json={"seconds": 3600})
    stalled = server.admin("GET", f"/tasks/{stuck}")
    assert (stalled["status"], stalled["due_at"]) == ("processing", None)
    expect(page.locator("#task-facts")).to_contain_text("never (stalled)")

    _add_and_remove_a_fault(page, server)
    _set_a_balance(page, server)


def _add_and_remove_a_fault(page: Page, server: Served) -> None:
    page.get_by_text("Add a fault rule").click()
    form = page.locator("#fault-form")
    form.get_by_label("Provider").select_option("seedance2ai")
    form.get_by_label("Effect").select_option("error")
    form.get_by_label("Error", exact=True).fill("service_busy")
    form.get_by_label("Path (glob)").fill("/api/v1/tasks/*")
    form.get_by_label("Times").fill("2")
    form.get_by_role("button", name="Add fault").click()
    expect(announced(page)).to_contain_text("Added fault flt_")
    [rule] = server.admin("GET", "/faults")["faults"]
    assert {k: rule[k] for k in ("provider", "effect", "error", "path", "times")} == {
        "provider": "seedance2ai",
        "effect": "error",
        "error": "service_busy",
        "path": "/api/v1/tasks/*",
        "times": 2,
    }
    expect(page.locator("#fault-list")).to_contain_text("error service_busy")

    page.get_by_role("button", name=f"Remove fault {rule['id']}").click()
    expect(announced(page)).to_contain_text(f"Removed fault {rule['id']}.")
    assert server.admin("GET", "/faults")["faults"] == []
    expect(page.locator("#fault-list > li")).to_have_count(0)

    form.get_by_label("Error", exact=True).fill("no_such_error")
    form.get_by_role("button", name="Add fault").click()
    expect(announced(page)).to_contain_text("Could not add the fault: error must be one of")


def _set_a_balance(page: Page, server: Served) -> None:
    page.get_by_label("Account", exact=True).select_option('["seedance2ai","demo"]')
    page.get_by_label("New balance (credits)").fill("1234")
    page.get_by_role("button", name="Set balance").click()
    expect(announced(page)).to_contain_text("Balance of seedance2ai / demo set to 1234 credits.")
    assert server.admin("GET", "/accounts/seedance2ai/demo")["credits"] == 1234
    ledger = page.locator("#ledger")
    expect(ledger.get_by_role("heading")).to_have_text("Ledger of seedance2ai / demo")
    expect(ledger.locator("tbody tr").first).to_contain_text("1234")
    expect(ledger).to_contain_text("set through the control API")


# 3 -------------------------------------------------------------------------------
TOKEN = "dashboard-admin-token"
PROTECTED = (
    "/__admin/tasks",
    "/__admin/accounts",
    "/__admin/journal",
    "/__admin/ui/api/fault-options",
    "/__admin/ui/api/tasks/{task}/media",
    "/__admin/ui/api/tasks/{task}/journal",
)


def test_with_an_admin_token_nothing_shows_until_it_is_given(
    start_server: StartServer, open_page: OpenPage
) -> None:
    server = start_server(admin_token=TOKEN)
    account = {"provider": "seedance2ai", "id": "acct-hidden-7", "credits": 5, "keys": ["sk_h7"]}
    server.admin("POST", "/accounts", json=account)
    task_id = server.submit("token-1")
    page = open_page(server).page

    expect(page.get_by_role("alert")).to_contain_text("Token required")
    _shows_nothing_from_the_store(page, task_id)
    for path in PROTECTED:
        url = path.format(task=task_id)
        assert page.evaluate(f"fetch({url!r}).then(r => r.status)") == 401, url
    assert axe_violations(page) == []

    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_role("alert")).to_contain_text("Token refused")
    _shows_nothing_from_the_store(page, task_id)

    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    expect(task_button(page, task_id)).to_be_visible()
    expect(page.locator("#account-rows")).to_contain_text("acct-hidden-7")
    expect(page.get_by_role("alert")).to_be_hidden()
    open_task(page, task_id)  # the dashboard's own routes answer with the token
    expect(page.locator("#task-timeline")).to_contain_text("POST /api/v1/video/seedance2 → 202")

    page.get_by_role("button", name="Forget token").click()
    expect(page.get_by_role("alert")).to_contain_text("Token required")
    _shows_nothing_from_the_store(page, task_id)


def _shows_nothing_from_the_store(page: Page, task_id: str) -> None:
    expect(page.locator("#data")).to_be_hidden()
    html = page.content()
    for secret in (task_id, "acct-hidden-7", "sk_h7", "10:00:00"):
        assert secret not in html, f"{secret!r} is in the page without the token"


# 4 -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_layout_fits_the_viewport(
    server: Served, open_page: OpenPage, name: str, viewport: ViewportSize
) -> None:
    tasks = [server.submit(f"layout-{n}", f"{PROMPT}, take {n}") for n in range(3)]
    server.admin("POST", f"/tasks/{tasks[0]}/complete")
    server.admin("POST", f"/tasks/{tasks[1]}/fail", json={"message": "upstream exploded"})
    server.admin("POST", f"/tasks/{server.submit_with_webhook()}/complete")
    server.admin("POST", "/faults", json={"provider": "seedanceapi", "error": "rate_limited"})
    server.client_view(tasks[0])
    page = open_page(server, viewport).page
    open_task(page, tasks[0])
    video = page.locator("#task-output video")
    assert video.evaluate(LOADED) >= 2
    expect(video).to_have_js_property("readyState", 4)  # no loading spinner in the screenshot
    page.locator("#journal-list summary").first.click()
    page.get_by_role("button", name="demo", exact=True).first.click()
    expect(page.locator("#ledger")).to_be_visible()

    overflow = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert max(overflow[:2]) <= overflow[2], f"the page scrolls sideways: {overflow}"
    for control in (
        page.get_by_label("Admin token"),
        page.get_by_role("button", name="Advance clock"),
        task_button(page, tasks[2]),
        page.get_by_role("button", name="Use token"),
        page.get_by_role("button", name="Set balance"),
        page.get_by_text("Add a fault rule"),
    ):
        _within_the_viewport(control, viewport["width"])
    page.evaluate("scrollTo(0, 0)")
    shot = page.screenshot(full_page=True)
    assert len(shot) > 10_000, "the screenshot is (nearly) empty"
    if os.environ.get("SEEDANCE_MOCK_SCREENSHOTS"):  # refresh the README's pictures
        (DOCS / f"dashboard-{name}.png").write_bytes(shot)


def _within_the_viewport(control: Locator, width: int) -> None:
    control.scroll_into_view_if_needed()
    expect(control).to_be_visible()
    expect(control).to_be_enabled()
    box = control.bounding_box()
    assert box is not None
    assert box["x"] >= 0, f"{control} sticks out on the left: {box}"
    assert box["x"] + box["width"] <= width, f"{control} sticks out on the right: {box}"
    assert box["height"] >= 24, f"{control} is too small to tap: {box}"


# 5 -------------------------------------------------------------------------------
UNNAMED_CONTROLS = """
() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => {
    const labelled = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map(id => document.getElementById(id)?.textContent || '').join('');
    const names = [el.getAttribute('aria-label') || '', labelled,
      ...[...(el.labels || [])].map(l => l.textContent),
      el.tagName === 'BUTTON' ? el.textContent : ''];
    return !names.some(n => n.trim());
  })
  .map(el => el.outerHTML)
"""


def test_accessibility_basics(server: Served, watched: Watched) -> None:
    page = watched.page
    task_id = server.submit("a11y-1")
    server.admin("POST", f"/tasks/{task_id}/complete")
    server.admin("POST", "/faults", json={"effect": "latency", "latency_ms": 1, "times": 5})
    server.admin("POST", f"/tasks/{server.submit_with_webhook()}/complete")
    open_task(page, task_id)
    page.locator("#journal-list summary").first.click()
    page.locator("#webhook-list summary").first.click()
    page.get_by_text("Add a fault rule").click()

    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").count() == 1
    assert page.evaluate(UNNAMED_CONTROLS) == []
    levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4')].map(h => +h.tagName[1])")
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), (
        f"a heading level skipped: {levels}"
    )
    for landmark in ("banner", "navigation", "main"):
        expect(page.get_by_role(landmark)).to_have_count(1)
    expect(page.get_by_role("status")).to_have_attribute("aria-live", "polite")

    problems = axe_violations(page)
    assert problems == [], "\n".join(problems)


def test_polling_pauses_while_the_tab_is_hidden(server: Served, watched: Watched) -> None:
    page = watched.page
    expect(page.locator("#poll-state")).to_contain_text("Live")
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("#poll-state")).to_have_text("Paused while this tab is hidden")
    page.wait_for_timeout(500)  # a poll already in flight may still finish
    sent = len(watched.requests)
    task_id = server.submit("hidden-1")
    page.wait_for_timeout(3200)  # two polling periods, real time: the page stays quiet
    assert len(watched.requests) == sent
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(task_button(page, task_id)).to_be_visible()
    expect(page.locator("#poll-state")).to_contain_text("Live")
