"""The control API under /__admin, through real HTTP against a started server.

One ``seedance-mock serve`` runs for the whole module (manual clock, seed 42,
a five-entry journal, an admin token); every test starts from
``POST /__admin/reset``. Everything a test checks is what a user of the
server would see: status codes, bodies, headers, balances and timing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.documented_errors import S2_ERRORS, SA_ERRORS, SA_FIELD_CODES
from tests.server import Receiver, Server, running_server

pytestmark = pytest.mark.slow

TOKEN = "admin-token-for-tests"
ADMIN_AUTH = {"Authorization": f"Bearer {TOKEN}"}
S2_KEY = "sk_live_demo"
SA_KEY = "sa_demo_key"
TIMEOUT = 10
#: the document-000 example: standard, 720p, 5 s, audio on by default -> 30 credits
S2_BODY = {"prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge"}
S2_PRICE = 30
#: the document-004 quick start: 720p, 8 s, no audio -> 28 credits
SA_BODY = {"prompt": "A cinematic shot of mountains at sunrise", "duration": "8"}
SA_PRICE = 28
#: longer than any task takes (seedance2ai at most 360 s, seedanceapi 240 s)
LONGEST_TASK = 400


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    args = ("--clock", "manual", "--seed", "42", "--journal-size", "5", "--admin-token", TOKEN)
    with running_server(*args) as started:
        yield started


class Admin:
    """The control API of one server, with the admin token."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = requests.request(
            method,
            self.server.url("/__admin" + path),
            headers=ADMIN_AUTH,
            timeout=TIMEOUT,
            **kwargs,
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()

    def get(self, route: str, **params: Any) -> Any:
        return self.call("GET", route, params=params)

    def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        return self.call("POST", path, expect, json=body)

    def fault(self, **rule: Any) -> dict[str, Any]:
        created: dict[str, Any] = self.post("/faults", rule, expect=201)
        return created

    def advance(self, seconds: float) -> str:
        now: str = self.post("/clock/advance", {"seconds": seconds})["now"]
        return now

    def credits(self, provider: str, account: str = "demo") -> int:
        balance: int = self.get(f"/accounts/{provider}/{account}")["credits"]
        return balance


@pytest.fixture
def admin(server: Server) -> Admin:
    """The control API, after a reset (every test starts from the start state)."""
    control = Admin(server)
    control.post("/reset")
    return control


# the providers, called as a client would ----------------------------------------------


def submit(
    server: Server,
    key: str = S2_KEY,
    idempotency_key: str | None = "idem-1",
    body: dict[str, Any] | None = None,
    **headers: str,
) -> requests.Response:
    sent = {"Authorization": f"Bearer {key}", **headers}
    if idempotency_key is not None:
        sent["Idempotency-Key"] = idempotency_key
    return requests.post(
        server.url("/api/v1/video/seedance2"),
        json=S2_BODY if body is None else body,
        headers=sent,
        timeout=TIMEOUT,
    )


def get_task(server: Server, task_id: str, key: str = S2_KEY) -> requests.Response:
    return requests.get(
        server.url(f"/api/v1/tasks/{task_id}"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=TIMEOUT,
    )


def generate(
    server: Server, key: str = SA_KEY, body: dict[str, Any] | None = None
) -> requests.Response:
    return requests.post(
        server.url("/v1/generate"),
        json=SA_BODY if body is None else body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=TIMEOUT,
    )


def status(server: Server, task_id: str, key: str = SA_KEY) -> requests.Response:
    return requests.get(
        server.url("/v1/status"),
        params={"task_id": task_id},
        headers={"Authorization": f"Bearer {key}"},
        timeout=TIMEOUT,
    )


def s2_task(server: Server, idempotency_key: str = "idem-1") -> str:
    response = submit(server, idempotency_key=idempotency_key)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def sa_task(server: Server, body: dict[str, Any] | None = None) -> str:
    response = generate(server, body=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# reset ------------------------------------------------------------------------------------


def test_reset_brings_back_accounts_and_clock_and_forgets_tasks_and_faults(
    server: Server, admin: Admin
) -> None:
    task_id = s2_task(server)
    admin.post("/accounts", {"provider": "seedance2ai", "id": "acme", "credits": 5}, expect=201)
    admin.call("PATCH", "/accounts/seedanceapi/demo", json={"credits": 1})
    admin.fault(provider="seedanceapi", error="internal_error")
    advanced = admin.advance(3 * 86400)

    answer = admin.post("/reset")

    assert answer["reset"] is True
    now = admin.get("/clock")["now"]
    assert instant(now) < instant(advanced) - 2 * 86400
    assert abs(instant(now) - time.time()) < 60  # a fresh clock starts at the present
    assert admin.credits("seedance2ai") == 10000
    assert admin.credits("seedanceapi") == 10000
    admin.call("GET", "/accounts/seedance2ai/acme", expect=404)
    assert admin.get("/tasks")["tasks"] == []
    assert admin.get("/faults")["faults"] == []
    assert admin.get("/journal")["entries"] == []
    assert get_task(server, task_id).status_code == 404
    assert generate(server).status_code == 200


# accounts --------------------------------------------------------------------------------


def test_created_account_answers_with_its_credits_and_its_keys_work(
    server: Server, admin: Admin
) -> None:
    created = admin.post(
        "/accounts",
        {"provider": "seedance2ai", "id": "acme", "credits": 500, "keys": ["sk_acme_1"]},
        expect=201,
    )

    assert created["provider"] == "seedance2ai"
    assert created["id"] == "acme"
    assert created["credits"] == 500
    assert [k["key"] for k in created["keys"]] == ["sk_acme_1"]
    assert submit(server, key="sk_acme_1").status_code == 202
    assert admin.get("/accounts/seedance2ai/acme")["credits"] == 500 - S2_PRICE
    assert admin.credits("seedance2ai") == 10000  # the demo account is not touched


def test_account_creation_refuses_duplicates_and_bad_input(admin: Admin) -> None:
    admin.post("/accounts", {"provider": "seedanceapi", "id": "x", "credits": 1}, expect=201)

    admin.post("/accounts", {"provider": "seedanceapi", "id": "x", "credits": 1}, expect=409)
    admin.post("/accounts", {"provider": "nope", "id": "y", "credits": 1}, expect=400)
    admin.post("/accounts", {"provider": "seedanceapi", "id": "y", "credits": "1"}, expect=400)
    admin.post(
        "/accounts", {"provider": "seedanceapi", "id": "z", "keys": [S2_KEY, SA_KEY]}, expect=409
    )
    admin.call("GET", "/accounts/seedanceapi/missing", expect=404)


def test_patching_credits_sets_the_balance_the_api_charges_against(
    server: Server, admin: Admin
) -> None:
    patched = admin.call("PATCH", "/accounts/seedance2ai/demo", json={"credits": S2_PRICE - 1})

    assert patched["credits"] == S2_PRICE - 1
    refused = submit(server)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"

    admin.call("PATCH", "/accounts/seedance2ai/demo", json={"credits": S2_PRICE})
    assert submit(server).status_code == 202
    assert admin.credits("seedance2ai") == 0
    admin.call("PATCH", "/accounts/seedance2ai/demo", json={"credits": -1}, expect=400)


def test_ledger_records_every_movement_with_the_balance_after_it(
    server: Server, admin: Admin
) -> None:
    task_id = s2_task(server)
    admin.call("PATCH", "/accounts/seedance2ai/demo", json={"credits": 50})

    ledger = admin.get("/accounts/seedance2ai/demo/ledger")

    assert ledger["balance"] == 50
    charge = next(e for e in ledger["entries"] if e["kind"] == "charge")
    assert charge["amount"] == -S2_PRICE
    assert charge["task_id"] == task_id
    assert charge["balance"] == 10000 - S2_PRICE
    assert ledger["entries"][-1]["balance"] == 50


def test_added_key_works_and_revoked_key_gets_401_from_seedance2ai(
    server: Server, admin: Admin
) -> None:
    added = admin.post("/accounts/seedance2ai/demo/keys", {"key": "sk_second"}, expect=201)
    assert {k["key"] for k in added["keys"]} == {S2_KEY, "sk_second"}
    task_id = s2_task(server)
    assert get_task(server, task_id, key="sk_second").status_code == 200

    revoked = admin.call("DELETE", "/accounts/seedance2ai/demo/keys/sk_second")

    assert {"key": "sk_second", "revoked": True} in revoked["keys"]
    refused = get_task(server, task_id, key="sk_second")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert get_task(server, task_id).status_code == 200  # the other key still works
    admin.call("DELETE", "/accounts/seedance2ai/demo/keys/sk_unknown", expect=404)


def test_revoked_key_gets_401_from_seedanceapi(server: Server, admin: Admin) -> None:
    admin.call("DELETE", f"/accounts/seedanceapi/demo/keys/{SA_KEY}")

    refused = generate(server)

    assert refused.status_code == 401
    assert refused.json()["error"] == "INVALID_API_KEY"
    assert admin.credits("seedanceapi") == 10000


# clock --------------------------------------------------------------------------------


def test_manual_clock_stands_still_and_advance_returns_the_new_now(admin: Admin) -> None:
    before = admin.get("/clock")
    assert before["mode"] == "manual"
    assert admin.get("/clock")["now"] == before["now"]

    now = admin.advance(90)

    assert instant(now) - instant(before["now"]) == pytest.approx(90)
    assert admin.get("/clock")["now"] == now
    admin.post("/clock/advance", {"seconds": -5}, expect=400)
    admin.post("/clock/advance", {"seconds": "ten"}, expect=400)


def test_tasks_complete_when_the_clock_is_advanced_past_them(server: Server, admin: Admin) -> None:
    s2_id = s2_task(server)
    sa_id = sa_task(server)
    assert get_task(server, s2_id).json()["status"] == "processing"
    assert status(server, sa_id).json()["data"]["status"] == "IN_PROGRESS"

    admin.advance(LONGEST_TASK)

    assert get_task(server, s2_id).json()["status"] == "completed"
    done = status(server, sa_id).json()["data"]
    assert done["status"] == "SUCCESS"
    assert len(done["response"]) == 1


def test_rate_limit_window_frees_after_the_clock_advances(server: Server, admin: Admin) -> None:
    task_id = s2_task(server)  # the submission counts: 1 of 30
    for _ in range(29):
        assert get_task(server, task_id).status_code == 200

    limited = get_task(server, task_id)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "60"

    admin.advance(59)
    assert get_task(server, task_id).headers.get("Retry-After") == "1"
    admin.advance(1)
    assert get_task(server, task_id).status_code == 200


def test_idempotency_key_is_remembered_for_24_hours_then_forgotten(
    server: Server, admin: Admin
) -> None:
    first = submit(server, idempotency_key="order-7")
    other_body = {**S2_BODY, "prompt": "A different prompt altogether"}
    assert first.status_code == 202

    conflict = submit(server, idempotency_key="order-7", body=other_body)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    replay = submit(server, idempotency_key="order-7")
    assert replay.content == first.content

    admin.advance(24 * 3600 - 1)
    assert submit(server, idempotency_key="order-7", body=other_body).status_code == 409
    admin.advance(1)
    fresh = submit(server, idempotency_key="order-7", body=other_body)
    assert fresh.status_code == 202
    assert fresh.json()["id"] != first.json()["id"]


def test_webhook_retry_happens_inside_the_advanced_span(server: Server, admin: Admin) -> None:
    with Receiver(statuses=(500,)) as receiver:
        task_id = sa_task(server, {**SA_BODY, "callback_url": receiver.url()})

        admin.advance(LONGEST_TASK)  # task ends, attempt 1 fails, the retry 10 s later succeeds

        posts = receiver.posts()
    assert [p.headers["X-Seedance-Mock-Attempt"] for p in posts] == ["1", "2"]
    assert (
        posts[0].headers["X-Seedance-Mock-Delivery"] == posts[1].headers["X-Seedance-Mock-Delivery"]
    )
    payload = json.loads(posts[1].body)
    assert payload["code"] == 200
    assert payload["data"]["task_id"] == task_id
    assert payload["data"]["status"] == "SUCCESS"
    [delivery] = admin.get("/webhooks", task_id=task_id)["deliveries"]
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 200]
    retry_gap = instant(delivery["attempts"][1]["at"]) - instant(delivery["attempts"][0]["at"])
    assert retry_gap == pytest.approx(10)


def test_webhook_listing_filters_by_task(server: Server, admin: Admin) -> None:
    with Receiver() as receiver:
        first = sa_task(server, {**SA_BODY, "callback_url": receiver.url("/a")})
        second = sa_task(server, {**SA_BODY, "callback_url": receiver.url("/b")})
        admin.advance(LONGEST_TASK)

    every = admin.get("/webhooks")["deliveries"]
    assert {d["task_id"] for d in every} == {first, second}
    [only] = admin.get("/webhooks", task_id=second)["deliveries"]
    assert only["url"].endswith("/b")
    assert only["state"] == "delivered"
    assert admin.get("/webhooks", provider="seedance2ai")["deliveries"] == []


# faults: documented errors ---------------------------------------------------------------

RETRY_AFTER_CONDITIONS = {"rate_limited", "service_busy"}


@pytest.mark.parametrize(("condition", "http_status"), S2_ERRORS)
def test_fault_answers_any_documented_seedance2ai_error(
    server: Server, admin: Admin, condition: str, http_status: int
) -> None:
    admin.fault(provider="seedance2ai", error=condition)

    response = submit(server)

    assert response.status_code == http_status
    assert response.json()["error"]["code"] == condition
    assert response.json()["error"]["message"]
    if condition in RETRY_AFTER_CONDITIONS:
        assert int(response.headers["Retry-After"]) >= 1
    else:
        assert "Retry-After" not in response.headers
    assert admin.credits("seedance2ai") == 10000  # nothing was charged
    assert admin.get("/tasks")["tasks"] == []


@pytest.mark.parametrize(("condition", "http_status", "code"), SA_ERRORS)
def test_fault_answers_any_seedanceapi_error_in_its_envelope(
    server: Server, admin: Admin, condition: str, http_status: int, code: str
) -> None:
    admin.fault(provider="seedanceapi", error=condition)

    response = generate(server)

    assert response.status_code == http_status
    body = response.json()
    assert body["code"] == http_status
    assert body["error"] == code
    assert body["message"].startswith(f"{code}: ")
    assert body["data"] is None
    assert ("Retry-After" in response.headers) == (condition in RETRY_AFTER_CONDITIONS)


@pytest.mark.parametrize("code", SA_FIELD_CODES)
def test_fault_answers_seedanceapi_field_error_codes_of_the_document(
    server: Server, admin: Admin, code: str
) -> None:
    """Document 004's table lists these 400 codes; a fault names them as the document does."""
    admin.fault(provider="seedanceapi", error=code)

    response = generate(server)

    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["message"].startswith(f"{code}: ")


@pytest.mark.parametrize(("provider", "condition"), [("seedance2ai", "rate_limited"),
                                                     ("seedance2ai", "service_busy"),
                                                     ("seedanceapi", "rate_limited"),
                                                     ("seedanceapi", "service_busy")])  # fmt: skip
def test_fault_retry_after_is_the_one_asked_for(
    server: Server, admin: Admin, provider: str, condition: str
) -> None:
    admin.fault(provider=provider, error=condition, retry_after=17, message="slow down please")

    response = submit(server) if provider == "seedance2ai" else generate(server)

    assert response.headers["Retry-After"] == "17"
    assert "slow down please" in response.text


def test_fault_refuses_an_unknown_error_or_effect(admin: Admin) -> None:
    admin.post("/faults", {"provider": "seedance2ai", "error": "teapot"}, expect=400)
    admin.post("/faults", {"provider": "seedance2ai", "effect": "explode"}, expect=400)
    admin.post("/faults", {"provider": "seedance2ai", "effect": "latency"}, expect=400)
    admin.post("/faults", {"provider": "nope", "error": "internal_error"}, expect=400)
    assert admin.get("/faults")["faults"] == []


# faults: other effects ---------------------------------------------------------------------


def test_latency_fault_delays_the_answer(server: Server, admin: Admin) -> None:
    admin.fault(provider="seedance2ai", effect="latency", latency_ms=200)

    started = time.monotonic()
    response = get_task(server, "sd2_missing00000")
    elapsed = time.monotonic() - started

    assert elapsed >= 0.2
    assert response.status_code == 404  # then the request is served normally


def test_drop_fault_closes_the_connection(server: Server, admin: Admin) -> None:
    admin.fault(provider="seedanceapi", effect="drop")

    with pytest.raises(requests.ConnectionError):
        generate(server)


def test_malformed_fault_sends_a_body_that_is_not_json(server: Server, admin: Admin) -> None:
    admin.fault(provider="seedanceapi", effect="malformed")

    response = generate(server)

    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_fault_for_the_next_n_requests_then_normal(server: Server, admin: Admin) -> None:
    admin.fault(provider="seedance2ai", error="service_busy", times=2)

    codes = [submit(server, idempotency_key=f"n-{i}").status_code for i in range(3)]

    assert codes == [503, 503, 202]
    assert admin.get("/faults")["faults"] == []  # used up


def _probability_pattern(server: Server, admin: Admin) -> list[int]:
    admin.fault(provider="seedanceapi", error="internal_error", probability=0.5)
    return [status(server, "seed_missing").status_code for _ in range(20)]


def test_probability_fault_mixes_and_repeats_with_the_seed(server: Server, admin: Admin) -> None:
    pattern = _probability_pattern(server, admin)
    assert set(pattern) == {404, 500}

    admin.post("/reset")

    assert _probability_pattern(server, admin) == pattern


def test_fault_matches_path_glob_and_method(server: Server, admin: Admin) -> None:
    task_id = s2_task(server)
    admin.fault(path="/api/v1/tasks/*", error="internal_error")
    admin.fault(provider="seedanceapi", method="POST", error="service_busy")

    assert get_task(server, task_id).status_code == 500
    assert submit(server, idempotency_key="other").status_code == 202
    assert generate(server).status_code == 503
    assert status(server, "seed_missing").status_code == 404


def test_fault_matches_key_and_account(server: Server, admin: Admin) -> None:
    admin.post(
        "/accounts",
        {"provider": "seedance2ai", "id": "acme", "credits": 100, "keys": ["sk_a1", "sk_a2"]},
        expect=201,
    )
    admin.post(
        "/accounts",
        {"provider": "seedanceapi", "id": "beta", "credits": 100, "keys": ["sa_b1"]},
        expect=201,
    )
    admin.fault(key="sk_a1", error="internal_error")
    admin.fault(account="beta", error="service_busy")

    assert submit(server, key="sk_a1").status_code == 500
    assert submit(server, key="sk_a2").status_code == 202
    assert submit(server, key=S2_KEY).status_code == 202
    assert generate(server, key="sa_b1").status_code == 503
    assert generate(server).status_code == 200


def test_faults_are_listed_removed_and_cleared(server: Server, admin: Admin) -> None:
    first = admin.fault(provider="seedance2ai", error="internal_error", key=S2_KEY)
    second = admin.fault(provider="seedanceapi", effect="malformed")

    listed = admin.get("/faults")["faults"]
    assert [f["id"] for f in listed] == [first["id"], second["id"]]
    assert S2_KEY not in json.dumps(listed)  # a whole key is never echoed

    admin.call("DELETE", f"/faults/{first['id']}")
    assert [f["id"] for f in admin.get("/faults")["faults"]] == [second["id"]]
    assert submit(server).status_code == 202
    admin.call("DELETE", f"/faults/{first['id']}", expect=404)

    admin.call("DELETE", "/faults")
    assert admin.get("/faults")["faults"] == []
    assert generate(server).status_code == 200


# tasks -------------------------------------------------------------------------------------


def test_tasks_are_listed_and_filtered(server: Server, admin: Admin) -> None:
    s2_id = s2_task(server)
    sa_id = sa_task(server)

    listed = admin.get("/tasks")["tasks"]

    assert {t["id"] for t in listed} == {s2_id, sa_id}
    assert all(t["status"] == "processing" for t in listed)
    [only] = admin.get("/tasks", provider="seedanceapi")["tasks"]
    assert only["id"] == sa_id
    assert only["credits"] == SA_PRICE
    assert admin.get(f"/tasks/{s2_id}")["provider"] == "seedance2ai"
    admin.call("GET", "/tasks/sd2_unknown", expect=404)


def test_forced_completion_delivers_a_downloadable_video(server: Server, admin: Admin) -> None:
    task_id = s2_task(server)

    admin.post(f"/tasks/{task_id}/complete")

    task = get_task(server, task_id).json()
    assert task["status"] == "completed"
    video = requests.get(task["output"]["video_url"], timeout=TIMEOUT)
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"  # an MP4 file
    admin.post(f"/tasks/{task_id}/complete", expect=409)  # it has already ended
    admin.post("/tasks/sd2_unknown/complete", expect=404)


def test_forced_failure_carries_the_message_and_refunds_seedance2ai(
    server: Server, admin: Admin
) -> None:
    task_id = s2_task(server)

    admin.post(f"/tasks/{task_id}/fail", {"message": "GPU caught fire"})

    task = get_task(server, task_id).json()
    assert task["status"] == "failed"
    assert task["error"]["message"] == "GPU caught fire"
    assert task["output"] is None
    assert task["credits_refunded"] == task["credits_used"] == S2_PRICE
    assert admin.credits("seedance2ai") == 10000
    refund = admin.get("/accounts/seedance2ai/demo/ledger")["entries"][-1]
    assert (refund["kind"], refund["amount"], refund["task_id"]) == ("refund", S2_PRICE, task_id)


def test_forced_failure_refunds_seedanceapi(server: Server, admin: Admin) -> None:
    task_id = sa_task(server)

    admin.post(f"/tasks/{task_id}/fail", {"message": "nope"})

    data = status(server, task_id).json()["data"]
    assert data["status"] == "FAILED"
    assert data["error_message"] == "nope"
    assert data["consumed_credits"] == 0
    assert admin.credits("seedanceapi") == 10000


def test_stalled_task_stays_processing_after_a_long_advance(server: Server, admin: Admin) -> None:
    s2_id = s2_task(server)
    sa_id = sa_task(server)
    admin.post(f"/tasks/{s2_id}/stall")
    admin.post(f"/tasks/{sa_id}/stall")

    admin.advance(3 * 86400)

    assert get_task(server, s2_id).json()["status"] == "processing"
    assert status(server, sa_id).json()["data"]["status"] == "IN_PROGRESS"
    assert admin.get(f"/tasks/{s2_id}")["status"] == "processing"
    admin.post(f"/tasks/{s2_id}/complete")  # a stalled task can still be ended by hand
    assert get_task(server, s2_id).json()["status"] == "completed"


# journal -------------------------------------------------------------------------------------


def test_journal_lists_requests_newest_first_with_their_answers(
    server: Server, admin: Admin
) -> None:
    task_id = s2_task(server)
    status(server, "seed_missing")

    entries = admin.get("/journal")["entries"]

    assert [(e["provider"], e["method"], e["path"], e["status"]) for e in entries] == [
        ("seedanceapi", "GET", "/v1/status", 404),
        ("seedance2ai", "POST", "/api/v1/video/seedance2", 202),
    ]
    assert json.loads(entries[1]["response_body"])["id"] == task_id
    assert json.loads(entries[1]["request_body"]) == S2_BODY
    assert entries[0]["query"] == "task_id=seed_missing"


def test_journal_filters_by_provider_path_and_status(server: Server, admin: Admin) -> None:
    task_id = s2_task(server)
    get_task(server, task_id)
    sa_task(server)
    status(server, "seed_missing")

    def shown(**filters: Any) -> list[tuple[str, int]]:
        return [(e["path"], e["status"]) for e in admin.get("/journal", **filters)["entries"]]

    assert shown(provider="seedance2ai") == [
        (f"/api/v1/tasks/{task_id}", 200),
        ("/api/v1/video/seedance2", 202),
    ]
    assert shown(path="/v1/") == [("/v1/status", 404), ("/v1/generate", 200)]
    assert shown(status=404) == [("/v1/status", 404)]
    assert shown(provider="seedanceapi", status=200) == [("/v1/generate", 200)]


def test_journal_never_shows_a_key(server: Server, admin: Admin) -> None:
    s2_task(server)
    generate(server)
    get_task(server, "sd2_missing00000", key="sk_not_a_real_key")

    entries = admin.get("/journal")["entries"]

    assert len(entries) == 3
    text = json.dumps(entries)
    for secret in (S2_KEY, SA_KEY, "sk_not_a_real_key", TOKEN):
        assert secret not in text
    assert all(e["request_headers"]["Authorization"] == "Bearer [redacted]" for e in entries)


def test_journal_keeps_only_the_last_journal_size_requests(server: Server, admin: Admin) -> None:
    paths = [f"/api/v1/tasks/sd2_missing{i:05d}" for i in range(8)]
    for path in paths:
        requests.get(server.url(path), headers={"Authorization": f"Bearer {S2_KEY}"}, timeout=10)

    entries = admin.get("/journal", limit=100)["entries"]

    assert [e["path"] for e in entries] == paths[::-1][:5]


# admin token ---------------------------------------------------------------------------------


def test_control_api_requires_the_admin_token(server: Server) -> None:
    bare = requests.get(server.url("/__admin/clock"), timeout=TIMEOUT)
    wrong = requests.get(
        server.url("/__admin/clock"), headers={"Authorization": "Bearer wrong"}, timeout=TIMEOUT
    )
    reset = requests.post(server.url("/__admin/reset"), timeout=TIMEOUT)
    right = requests.get(server.url("/__admin/clock"), headers=ADMIN_AUTH, timeout=TIMEOUT)

    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert reset.status_code == 401
    assert right.status_code == 200
    assert "now" in right.json()


def test_admin_token_is_not_needed_by_the_provider_apis(server: Server, admin: Admin) -> None:
    assert submit(server).status_code == 202
    assert generate(server).status_code == 200
