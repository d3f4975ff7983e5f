"""seedance2ai as it is today (../shared/evidence/seedance2ai-updates.md and
spec/DECISIONS-seedance2ai-updates.md): Seedance 2.5 and its "auto" duration,
the purchase gate, the reference-media limit per account and per address, the
observed media quirks, the observed rate card, the alias path and optional
Idempotency-Key in the observed profile.

The oracles are the evidence sheet's numbers, copied by hand below; the
simulator under test is a fresh app per test on a manual clock.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from mockserver.spec import PROFILES, export_openapi, load_provider
from tests.server import Server, running_server

P = "seedance2ai"
SUBMIT = "/api/v1/video/seedance2"
SUBMIT_25 = "/api/v1/video/seedance25"
ALIAS = "/api/v1/video/seedance"
TASKS = "/api/v1/tasks"
DEMO_KEY = "sk_live_demo"
START = "2026-08-16T10:00:00Z"
PROMPT = "A glass train crossing a snowy bridge"
LONGEST_TASK = 360  # profile.json timing.max_seconds
BALANCE = 10000  # the demo account's credits

# What client code S3 sends to /video/seedance25 (its defaults).
S3_BODY = {
    "mode": "text-to-video",
    "prompt": PROMPT,
    "aspect_ratio": "16:9",
    "duration": "5",
    "resolution": "720p",
}
ACCEPTED_25 = ["id", "status", "model", "channel", "credits_used"]
TASK_25 = [
    *ACCEPTED_25,
    "credits_refunded",
    "output",
    "error",
    "created_at",
    "updated_at",
]
# The estimated 2.5 rate (DECISIONS A20): the card's Pro rate per second.
RATE_25 = {"720p": 11, "1080p": 24}

_keys = itertools.count()


def config(profile: str = "documented", **overrides: Any) -> Config:
    return Config(
        clock="manual",
        seed=1234,
        background=False,
        clock_start=START,
        profile=profile,
        overrides={P: overrides} if overrides else {},
    )


@contextlib.contextmanager
def simulator(settings: Config) -> Iterator[tuple[FlaskClient, Runtime]]:
    """A fresh app (its client and runtime) for the ``with`` block."""
    app: Flask = create_app(settings)
    runtime: Runtime = app.extensions[EXTENSION]
    try:
        yield app.test_client(), runtime
    finally:
        runtime.close()


@pytest.fixture
def observed() -> Iterator[tuple[FlaskClient, Runtime]]:
    with simulator(config("observed")) as made:
        yield made


def post(
    client: FlaskClient,
    path: str,
    body: Any,
    *,
    key: str = DEMO_KEY,
    idempotency: str | None = "fresh",
    address: str = "127.0.0.1",
    scenario: str | None = None,
) -> TestResponse:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency is not None:
        headers["Idempotency-Key"] = f"k-{next(_keys)}" if idempotency == "fresh" else idempotency
    if scenario is not None:
        headers["X-Seedance-Mock-Scenario"] = scenario
    return client.post(path, json=body, headers=headers, environ_base={"REMOTE_ADDR": address})


def accepted(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 202, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def task(client: FlaskClient, task_id: str, key: str = DEMO_KEY) -> dict[str, Any]:
    response = client.get(f"{TASKS}/{task_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def refused(response: TestResponse, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


def balance(runtime: Runtime, account: str = "demo") -> int:
    found = runtime.store.get_account(P, account)
    assert found is not None
    return found.credits


def tasks_of(runtime: Runtime, account: str = "demo") -> int:
    return len(runtime.store.tasks(P, account))


def clip_seconds(runtime: Runtime, task_id: str) -> int:
    """The length of a task's video: its frames at 24 fps (documented: no extra frame)."""
    found = runtime.store.get_task(task_id)
    assert found is not None
    return found.media.frames // found.media.fps


def urls(kind: str, count: int) -> list[str]:
    extension = {"image": "png", "video": "mp4", "audio": "mp3", "none": "bin"}[kind]
    return [f"https://cdn.example.com/{kind}-{i}.{extension}" for i in range(count)]


def finish(runtime: Runtime) -> None:
    runtime.clock.advance(LONGEST_TASK)


# Seedance 2.5: the endpoint --------------------------------------------------------------


def test_seedance25_accepts_the_s3_client_body_without_a_quality_tier(
    client: FlaskClient,
) -> None:
    body = accepted(post(client, SUBMIT_25, S3_BODY))
    assert list(body) == ACCEPTED_25
    assert body["id"].startswith("sd2_")
    assert body == {
        "id": body["id"],
        "status": "processing",
        "model": "seedance25",
        "channel": "standard",
        "credits_used": 5 * RATE_25["720p"],
    }


def test_seedance25_task_is_polled_at_the_shared_tasks_endpoint(
    client: FlaskClient, runtime: Runtime
) -> None:
    task_id = accepted(post(client, SUBMIT_25, {**S3_BODY, "channel": "wild"}))["id"]
    processing = task(client, task_id)
    assert list(processing) == TASK_25
    assert (processing["model"], processing["channel"]) == ("seedance25", "wild")
    finish(runtime)
    done = task(client, task_id)
    assert (done["status"], done["credits_refunded"]) == ("completed", 0)
    assert list(done["output"]) == ["video_url", "last_frame_url", "seed"]
    validator = load_provider(P).validator("Task")
    assert validator.violations(processing) == []
    assert validator.violations(done) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("quality_tier", "pro"), ("seed", 7), ("end_image_url", "https://cdn.example.com/e.png")],
)
def test_seedance25_refuses_what_the_endpoint_lacks(
    client: FlaskClient, runtime: Runtime, field: str, value: Any
) -> None:
    message = refused(post(client, SUBMIT_25, {**S3_BODY, field: value}), 400, "invalid_request")
    assert message == f"{field}: unsupported field"
    assert tasks_of(runtime) == 0


@pytest.mark.parametrize(("duration", "resolution"), [("4", "720p"), ("30", "1080p")])
def test_seedance25_takes_4_to_30_seconds_at_720p_or_1080p(
    client: FlaskClient, duration: str, resolution: str
) -> None:
    body = {**S3_BODY, "duration": duration, "resolution": resolution}
    used = accepted(post(client, SUBMIT_25, body))["credits_used"]
    assert used == int(duration) * RATE_25[resolution]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"duration": "3"}, "duration"),
        ({"duration": "31"}, "duration"),
        ({"duration": 10}, "duration"),
        ({"resolution": "4k"}, "resolution"),
        ({"resolution": "1080p-plus"}, "resolution"),
        ({"mode": "image-to-video"}, "image_url is required"),
    ],
)
def test_seedance25_refuses_values_outside_its_limits(
    client: FlaskClient, change: dict[str, Any], named: str
) -> None:
    message = refused(post(client, SUBMIT_25, {**S3_BODY, **change}), 400, "invalid_request")
    assert named in message


# Seedance 2.5: duration "auto" -----------------------------------------------------------


def test_auto_reserves_thirty_seconds_and_refunds_the_unused_part_on_completion(
    client: FlaskClient, runtime: Runtime
) -> None:
    reserved = 30 * RATE_25["720p"]
    answer = accepted(post(client, SUBMIT_25, {**S3_BODY, "duration": "auto"}))
    assert answer["credits_used"] == reserved
    assert balance(runtime) == BALANCE - reserved
    assert task(client, answer["id"])["credits_refunded"] == 0  # nothing back while processing
    seconds = clip_seconds(runtime, answer["id"])
    assert 4 <= seconds <= 30
    finish(runtime)
    done = task(client, answer["id"])
    unused = reserved - seconds * RATE_25["720p"]
    assert (done["status"], done["credits_used"], done["credits_refunded"]) == (
        "completed",
        reserved,
        unused,
    )
    assert balance(runtime) == BALANCE - seconds * RATE_25["720p"]
    _, entries = runtime.store.ledger(P, "demo")
    assert [(e.kind, e.amount, e.task_id) for e in entries] == [
        ("charge", -reserved, answer["id"]),
        ("refund", unused, answer["id"]),
    ]
    assert load_provider(P).validator("Task").violations(done) == []


def test_auto_at_1080p_reserves_thirty_seconds_of_1080p(client: FlaskClient) -> None:
    body = {**S3_BODY, "duration": "auto", "resolution": "1080p"}
    assert accepted(post(client, SUBMIT_25, body))["credits_used"] == 30 * RATE_25["1080p"]


def test_auto_lengths_are_drawn_reproducibly_from_the_seed() -> None:
    def lengths() -> list[int]:
        with simulator(config()) as (client, runtime):
            ids = [
                accepted(post(client, SUBMIT_25, {**S3_BODY, "duration": "auto"}))["id"]
                for _ in range(6)
            ]
            return [clip_seconds(runtime, task_id) for task_id in ids]

    first = lengths()
    assert first == lengths()
    assert len(set(first)) > 1


def test_failed_auto_task_is_refunded_in_full(client: FlaskClient, runtime: Runtime) -> None:
    body = {**S3_BODY, "duration": "auto"}
    task_id = accepted(post(client, SUBMIT_25, body, scenario="fail"))["id"]
    finish(runtime)
    done = task(client, task_id)
    assert (done["status"], done["credits_refunded"]) == ("failed", 30 * RATE_25["720p"])
    assert balance(runtime) == BALANCE


# Seedance 2.5: references -----------------------------------------------------------------


def test_fifty_references_of_the_allowed_kinds_are_accepted(client: FlaskClient) -> None:
    media = urls("image", 30) + urls("video", 10) + urls("audio", 10)
    body = {**S3_BODY, "mode": "media-to-video", "media_urls": media}
    accepted(post(client, SUBMIT_25, body))


@pytest.mark.parametrize(
    ("media", "message"),
    [
        (urls("image", 31), "media_urls: must hold at most 30 image URLs (got 31)"),
        (urls("video", 11), "media_urls: must hold at most 10 video URLs (got 11)"),
        (urls("audio", 11), "media_urls: must hold at most 10 audio URLs (got 11)"),
        (urls("none", 51), "media_urls: must hold at most 50 items (got 51)"),
    ],
)
def test_references_beyond_a_kinds_limit_are_refused_uncharged(
    client: FlaskClient, runtime: Runtime, media: list[str], message: str
) -> None:
    body = {**S3_BODY, "mode": "media-to-video", "media_urls": media}
    assert refused(post(client, SUBMIT_25, body), 400, "invalid_request") == message
    assert (tasks_of(runtime), balance(runtime)) == (0, BALANCE)


def test_references_of_no_known_kind_count_only_towards_fifty(client: FlaskClient) -> None:
    body = {**S3_BODY, "mode": "media-to-video", "media_urls": urls("none", 50)}
    accepted(post(client, SUBMIT_25, body))


def test_seedance2_keeps_its_twelve_references_of_any_kind(client: FlaskClient) -> None:
    body = {"prompt": PROMPT, "mode": "media-to-video", "media_urls": urls("audio", 12)}
    accepted(post(client, SUBMIT, body))


# the purchase gate ----------------------------------------------------------------------


@pytest.fixture
def never_purchased(runtime: Runtime) -> str:
    runtime.simulation.create_account(P, "fresh", 1000, ["sk_live_fresh"], purchased=False)
    return "sk_live_fresh"


@pytest.mark.parametrize("profile", PROFILES)
def test_seedance25_needs_an_account_that_made_a_purchase(profile: str) -> None:
    with simulator(config(profile)) as (client, runtime):
        runtime.simulation.create_account(P, "fresh", 1000, ["sk_fresh"], purchased=False)
        response = post(client, SUBMIT_25, S3_BODY, key="sk_fresh")
        refused(response, 403, "purchase_required")
        assert (tasks_of(runtime, "fresh"), balance(runtime, "fresh")) == (0, 1000)
        accepted(post(client, SUBMIT_25, S3_BODY))  # the demo account has purchased


def test_seedance25_gate_comes_before_the_balance(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(P, "broke", 0, ["sk_broke"], purchased=False)
    refused(post(client, SUBMIT_25, S3_BODY, key="sk_broke"), 403, "purchase_required")


@pytest.mark.parametrize(("tier", "status"), [("standard", 403), ("pro", 403), ("mini", 202)])
def test_observed_gate_covers_standard_and_pro_but_not_mini(
    observed: tuple[FlaskClient, Runtime], tier: str, status: int
) -> None:
    client, runtime = observed
    runtime.simulation.create_account(P, "fresh", 1000, ["sk_fresh"], purchased=False)
    response = post(client, SUBMIT, {"prompt": PROMPT, "quality_tier": tier}, key="sk_fresh")
    if status == 403:
        refused(response, 403, "purchase_required")
        assert balance(runtime, "fresh") == 1000
    else:
        assert balance(runtime, "fresh") == 1000 - accepted(response)["credits_used"]


def test_documented_seedance2_has_no_gate(client: FlaskClient, never_purchased: str) -> None:
    accepted(post(client, SUBMIT, {"prompt": PROMPT, "quality_tier": "pro"}, key=never_purchased))


# the reference-media limit, per account and per address -----------------------------------


def media_body(path: str = SUBMIT) -> dict[str, Any]:
    body = S3_BODY if path == SUBMIT_25 else {"prompt": PROMPT}
    return {**body, "mode": "media-to-video", "media_urls": urls("image", 2)}


@pytest.fixture
def second_account(runtime: Runtime) -> str:
    runtime.simulation.create_account(P, "second", 1000, ["sk_live_second"])
    return "sk_live_second"


def test_three_media_submits_a_minute_per_address_whatever_the_account(
    client: FlaskClient, runtime: Runtime, second_account: str
) -> None:
    here, elsewhere = "203.0.113.5", "198.51.100.7"
    accepted(post(client, SUBMIT, media_body(), address=here))
    accepted(post(client, SUBMIT_25, media_body(SUBMIT_25), address=here))
    accepted(post(client, SUBMIT, media_body(), key=second_account, address=here))
    full = post(client, SUBMIT, media_body(), key=second_account, address=here)
    refused(full, 429, "rate_limited")
    assert full.headers["Retry-After"] == "60"
    assert tasks_of(runtime, "second") == 1
    accepted(post(client, SUBMIT, media_body(), key=second_account, address=elsewhere))
    accepted(post(client, SUBMIT, {"prompt": PROMPT}, key=second_account, address=here))
    runtime.clock.advance(60)
    accepted(post(client, SUBMIT, media_body(), key=second_account, address=here))


def test_three_media_submits_a_minute_per_account_whatever_the_address(
    client: FlaskClient,
) -> None:
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        accepted(post(client, SUBMIT_25, media_body(SUBMIT_25), address=address))
    refused(post(client, SUBMIT, media_body(), address="192.0.2.4"), 429, "rate_limited")


# observed media quirks ----------------------------------------------------------------------


def test_a_webp_reference_fails_the_whole_submit_uncharged(
    observed: tuple[FlaskClient, Runtime],
) -> None:
    client, runtime = observed
    media = ["https://cdn.example.com/a.jpg", "https://cdn.example.com/product.WEBP?v=2"]
    body = {"prompt": PROMPT, "mode": "media-to-video", "media_urls": media}
    message = refused(post(client, SUBMIT, body), 400, "invalid_request")
    assert message.startswith("media_urls[1]: ")
    assert "product.WEBP" in message
    assert (tasks_of(runtime), balance(runtime)) == (0, BALANCE)
    accepted(post(client, SUBMIT, {**body, "media_urls": media[:1]}))


def test_webp_references_are_accepted_as_documented(client: FlaskClient) -> None:
    body = {
        "prompt": PROMPT,
        "mode": "media-to-video",
        "media_urls": ["https://c.example.com/a.webp"],
    }
    accepted(post(client, SUBMIT, body))


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (SUBMIT, {"mode": "image-to-video", "image_url": "https://c.example.com/real-person.png"}),
        (SUBMIT, {"end_image_url": "https://c.example.com/ai-person-end.png"}),
        (
            SUBMIT,
            {
                "mode": "media-to-video",
                "media_urls": [
                    "https://c.example.com/shoe.png",
                    "https://c.example.com/ai-person.jpg",
                ],
            },
        ),
        (
            SUBMIT_25,
            {
                "mode": "media-to-video",
                "media_urls": [*urls("image", 2), "https://c.example.com/real-person.jpg"],
            },
        ),
    ],
)
def test_any_image_of_a_person_is_refused_uncharged(
    observed: tuple[FlaskClient, Runtime], path: str, change: dict[str, Any]
) -> None:
    client, runtime = observed
    body = {**(S3_BODY if path == SUBMIT_25 else {"prompt": PROMPT}), **change}
    message = refused(post(client, path, body), 400, "invalid_request")
    assert "input image may contain real person" in message
    assert (tasks_of(runtime), balance(runtime)) == (0, BALANCE)


def test_people_are_accepted_as_documented(client: FlaskClient) -> None:
    body = {"prompt": PROMPT, "media_urls": ["https://c.example.com/real-person.png"]}
    accepted(post(client, SUBMIT, body))


def test_a_below_spec_delivery_is_charged_as_requested_and_never_refunded(
    observed: tuple[FlaskClient, Runtime],
) -> None:
    client, runtime = observed
    body = {"prompt": PROMPT, "resolution": "1080p", "aspect_ratio": "9:16", "duration": "10"}
    answer = accepted(post(client, SUBMIT, {**body, "generate_audio": False}))
    finish(runtime)
    done = task(client, answer["id"])
    assert (done["credits_used"], done["credits_refunded"]) == (145, 0)  # observed charge
    found = runtime.store.get_task(answer["id"])
    assert found is not None
    assert (found.media.width, found.media.height) == (720, 1280)


def test_fifteen_second_jobs_are_accepted(observed: tuple[FlaskClient, Runtime]) -> None:
    client, _ = observed
    body = {"prompt": PROMPT, "duration": "15", "mode": "image-to-video"}
    body["image_url"] = "https://c.example.com/start.png"
    assert accepted(post(client, SUBMIT, body))["credits_used"] == 135  # observed: mantoog


# the observed rate card (§9.1) and its contradictions (§9.2) ------------------------------

VIDEO = ["https://cdn.example.com/source.mp4"]
IMAGE = ["https://cdn.example.com/still.png"]


@dataclass(frozen=True)
class Charge:
    """A request of the observed rate card and the credits it costs."""

    tier: str
    resolution: str
    seconds: int
    audio: bool
    credits: int
    media: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": PROMPT,
            "quality_tier": self.tier,
            "resolution": self.resolution,
            "duration": str(self.seconds),
            "generate_audio": self.audio,
        }
        if self.media:
            body.update(mode="media-to-video", media_urls=list(self.media))
        return body


# By hand from the sheet's §9.1 (list rates) and §9.2 (charges), as DECISIONS A29–A33 read them.
RATE_CARD = {
    "document 000's example, reproduced": Charge("standard", "720p", 5, True, 30),
    "Fast 720p 9/s": Charge("standard", "720p", 6, True, 54),
    "observed 135 for 15 s": Charge("standard", "720p", 15, True, 135),
    "no audio axis on the card": Charge("standard", "720p", 8, False, 72),
    "observed 145, not Fast's 190": Charge("standard", "1080p", 10, False, 145),
    "14.5/s implied by that charge": Charge("standard", "1080p", 12, False, 174),
    "observed pro 720p 5 s": Charge("pro", "720p", 5, False, 55),
    "Pro 720p 11/s": Charge("pro", "720p", 7, True, 77),
    "observed 95, not 96": Charge("pro", "1080p", 4, False, 95),
    "Pro 1080p 24/s": Charge("pro", "1080p", 6, False, 144),
    "observed mini 720p": Charge("mini", "720p", 10, False, 22),
    "mini 2.2/s implied": Charge("mini", "720p", 5, False, 11),
    "observed mini 1080p": Charge("mini", "1080p", 15, True, 180),
    "Fast 720p with video input 5/s": Charge("standard", "720p", 10, True, 50, tuple(VIDEO)),
    "Fast 1080p with video input 12/s": Charge("standard", "1080p", 10, False, 120, tuple(VIDEO)),
    "Pro 720p with video input 7/s, not the 55 cell": Charge(
        "pro", "720p", 5, False, 35, tuple(VIDEO)
    ),
    "Pro 1080p with video input 15/s": Charge("pro", "1080p", 10, False, 150, tuple(VIDEO)),
    "images only: no video-input rate": Charge("pro", "720p", 5, False, 55, tuple(IMAGE)),
}


@pytest.mark.parametrize("charge", list(RATE_CARD.values()), ids=list(RATE_CARD))
def test_observed_profile_charges_the_rate_card(
    observed: tuple[FlaskClient, Runtime], charge: Charge
) -> None:
    client, runtime = observed
    assert accepted(post(client, SUBMIT, charge.body()))["credits_used"] == charge.credits
    assert balance(runtime) == BALANCE - charge.credits


def test_documented_profile_keeps_document_000s_prices(client: FlaskClient) -> None:
    standard = {"prompt": PROMPT, "duration": "6"}  # standard 720p with audio: 6/s estimate
    assert accepted(post(client, SUBMIT, standard))["credits_used"] == 36
    pro = {**Charge("pro", "720p", 5, False, 55).body(), "media_urls": VIDEO}
    assert accepted(post(client, SUBMIT, pro))["credits_used"] == 55  # no video-input rate


def test_non_annual_accounts_pay_one_and_a_half_times() -> None:
    with simulator(config("observed", pricing={"multiplier": 1.5})) as (client, _):
        body = {"prompt": PROMPT, "quality_tier": "pro", "duration": "5", "generate_audio": False}
        assert accepted(post(client, SUBMIT, body))["credits_used"] == 83  # 82.5, half up
        assert accepted(post(client, SUBMIT_25, S3_BODY))["credits_used"] == 83


def test_the_observed_profile_can_use_document_000s_table() -> None:
    with simulator(config("observed", pricing={"table": "document"})) as (client, _):
        assert (
            accepted(post(client, SUBMIT, {"prompt": PROMPT, "duration": "6"}))["credits_used"]
            == 36
        )


def test_every_price_of_both_profiles_names_its_source() -> None:
    for profile in PROFILES:
        spec = load_provider(P, profile)
        for operation in ("submit_video", "submit_video_25"):
            grid = list(spec.price_grid(operation))
            assert grid, operation
            for params, price in grid:
                assert price.credits > 0, params
                assert price.provenance, params
                assert price.provenance.startswith("estimate: ") == price.estimate


# the alias path -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_the_www_pages_path_is_seedance2(profile: str) -> None:
    with simulator(config(profile)) as (client, runtime):
        body = accepted(post(client, ALIAS, {"prompt": PROMPT, "quality_tier": "pro"}))
        assert (body["model"], body["quality_tier"]) == ("seedance2", "pro")
        finish(runtime)
        assert task(client, body["id"])["status"] == "completed"


def test_the_alias_can_be_switched_off() -> None:
    settings = config(operations={"submit_video_alias": {"served": False}})
    with simulator(settings) as (client, runtime):
        response = client.post(ALIAS, json={"prompt": PROMPT})  # no key: still no such path
        assert refused(response, 404, "not_found") == "No such endpoint."
        assert tasks_of(runtime) == 0


# Idempotency-Key: optional in the observed profile --------------------------------------------


def test_observed_submits_without_a_key_each_create_a_charged_task(
    observed: tuple[FlaskClient, Runtime],
) -> None:
    client, runtime = observed
    ids = {accepted(post(client, SUBMIT, {"prompt": PROMPT}, idempotency=None))["id"] for _ in "ab"}
    ids.add(accepted(post(client, SUBMIT_25, S3_BODY, idempotency=None))["id"])
    assert len(ids) == 3
    assert balance(runtime) == BALANCE - 30 - 30 - 55


def test_observed_submits_with_a_key_still_replay(observed: tuple[FlaskClient, Runtime]) -> None:
    client, runtime = observed
    first = post(client, SUBMIT, {"prompt": PROMPT}, idempotency="same")
    again = post(client, SUBMIT, {"prompt": PROMPT}, idempotency="same")
    assert accepted(first) == accepted(again)
    refused(
        post(client, SUBMIT, {"prompt": "Another prompt"}, idempotency="same"),
        409,
        "idempotency_conflict",
    )
    assert tasks_of(runtime) == 1


@pytest.mark.parametrize("path", [SUBMIT, SUBMIT_25, ALIAS])
def test_documented_submits_without_a_key_are_refused(
    client: FlaskClient, runtime: Runtime, path: str
) -> None:
    body = S3_BODY if path == SUBMIT_25 else {"prompt": PROMPT}
    message = refused(post(client, path, body, idempotency=None), 400, "invalid_request")
    assert "Idempotency-Key header is required" in message
    assert tasks_of(runtime) == 0


@pytest.fixture(scope="module")
def observed_server() -> Iterator[Server]:
    args = ("--profile", "observed", "--clock", "manual", "--clock-start", START, "--seed", "7")
    with running_server(*args) as server:
        yield server


def test_a_real_observed_server_completes_a_task_submitted_without_a_key(
    observed_server: Server,
) -> None:
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}
    first = requests.post(
        observed_server.url(SUBMIT), json={"prompt": PROMPT}, headers=auth, timeout=10
    )
    second = requests.post(
        observed_server.url(SUBMIT), json={"prompt": PROMPT}, headers=auth, timeout=10
    )
    assert (first.status_code, second.status_code) == (202, 202), first.text
    assert first.json()["id"] != second.json()["id"]
    advanced = requests.post(
        observed_server.url("/__admin/clock/advance"), json={"seconds": LONGEST_TASK}, timeout=10
    )
    assert advanced.status_code == 200, advanced.text
    done = requests.get(
        observed_server.url(f"{TASKS}/{first.json()['id']}"), headers=auth, timeout=10
    )
    assert done.json()["status"] == "completed"
    assert done.json()["credits_used"] == 30  # the observed table keeps the document's example


def test_a_real_documented_server_refuses_a_submit_without_a_key() -> None:
    with running_server("--clock", "manual") as server:
        auth = {"Authorization": f"Bearer {DEMO_KEY}"}
        answer = requests.post(server.url(SUBMIT_25), json=S3_BODY, headers=auth, timeout=10)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_request"


# the spec ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_openapi_exports_the_new_operations(profile: str) -> None:
    document = export_openapi(load_provider(P, profile))
    validate(document)
    submit_25 = document["paths"][SUBMIT_25]["post"]
    assert submit_25["operationId"] == "submit_video_25"
    assert set(submit_25["responses"]) >= {"202", "400", "402", "403", "429"}
    assert document["paths"][ALIAS]["post"]["operationId"] == "submit_video_alias"
    assert "Submit25Request" in document["components"]["schemas"]


def test_a_seedance2_task_with_a_refund_or_a_seedance25_task_with_a_tier_is_off_schema(
    client: FlaskClient, runtime: Runtime
) -> None:
    validator = load_provider(P).validator("Task")
    task_id = accepted(post(client, SUBMIT, {"prompt": PROMPT}))["id"]
    finish(runtime)
    done = task(client, task_id)
    assert validator.violations(done) == []
    assert validator.violations({**done, "credits_refunded": 5}) != []
    assert validator.violations({**done, "model": "seedance25"}) != []
