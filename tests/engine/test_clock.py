"""The one clock: manual time stands still until advanced, real time follows a
(fake) wall clock at ``time_scale``, listeners see every jump, time never
goes back, and instants print as the documents show them."""

from __future__ import annotations

import pytest

from mockserver.engine.clock import Clock, format_instant, parse_instant

START = parse_instant("2026-06-03T10:00:00Z")


class FakeWall:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSleeper:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def manual(wall: FakeWall) -> Clock:
    return Clock("manual", start=START, wall=wall)


# manual mode ---------------------------------------------------------------


def test_manual_clock_starts_at_the_given_instant(manual: Clock) -> None:
    assert manual.now() == START
    assert manual.iso() == "2026-06-03T10:00:00.000Z"


def test_manual_clock_stands_still_while_the_wall_clock_moves(
    manual: Clock, wall: FakeWall
) -> None:
    wall.now += 3600
    assert manual.now() == START


def test_manual_clock_moves_exactly_by_what_is_advanced(manual: Clock) -> None:
    assert manual.advance(90) == START + 90
    manual.advance(0.25)
    assert manual.now() == START + 90.25
    assert manual.iso() == "2026-06-03T10:01:30.250Z"


def test_advance_to_jumps_to_an_instant(manual: Clock) -> None:
    assert manual.advance_to(START + 192) == START + 192
    assert manual.iso() == "2026-06-03T10:03:12.000Z"


def test_advance_to_an_earlier_instant_leaves_the_clock_where_it_is(manual: Clock) -> None:
    manual.advance(100)
    assert manual.advance_to(START + 10) == START + 100
    assert manual.now() == START + 100


def test_clock_refuses_to_go_backwards(manual: Clock) -> None:
    with pytest.raises(ValueError, match="forward"):
        manual.advance(-1)
    assert manual.now() == START


def test_manual_sleep_returns_at_once_without_sleeping(wall: FakeWall) -> None:
    sleeper = FakeSleeper()
    clock = Clock("manual", start=START, wall=wall, sleeper=sleeper)
    clock.sleep(20)
    assert sleeper.calls == []
    assert clock.now() == START


def test_start_is_kept_to_the_millisecond(wall: FakeWall) -> None:
    clock = Clock("manual", start=START + 0.123456, wall=wall)
    assert clock.now() == pytest.approx(START + 0.123, abs=1e-9)


# real mode ------------------------------------------------------------------


def test_real_clock_without_start_begins_at_the_wall_time(wall: FakeWall) -> None:
    clock = Clock("real", wall=wall)
    assert clock.now() == pytest.approx(wall.now)


def test_real_clock_follows_the_wall_clock(wall: FakeWall) -> None:
    clock = Clock("real", start=START, wall=wall)
    wall.now += 12.5
    assert clock.now() == pytest.approx(START + 12.5)


def test_time_scale_speeds_up_the_real_clock(wall: FakeWall) -> None:
    clock = Clock("real", start=START, wall=wall, time_scale=60)
    wall.now += 2
    assert clock.now() == pytest.approx(START + 120)


def test_real_clock_can_also_be_advanced(wall: FakeWall) -> None:
    clock = Clock("real", start=START, wall=wall, time_scale=2)
    clock.advance(100)
    wall.now += 5
    assert clock.now() == pytest.approx(START + 110)


def test_real_sleep_waits_wall_time_divided_by_the_scale(wall: FakeWall) -> None:
    sleeper = FakeSleeper()
    clock = Clock("real", start=START, wall=wall, time_scale=10, sleeper=sleeper)
    clock.sleep(25)
    clock.sleep(0)
    assert sleeper.calls == [2.5]


@pytest.mark.parametrize("mode", ["fast", "", "MANUAL"])
def test_unknown_mode_is_refused(mode: str) -> None:
    with pytest.raises(ValueError, match="clock mode"):
        Clock(mode)


@pytest.mark.parametrize("scale", [0, -1.0])
def test_time_scale_must_be_positive(scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        Clock("real", time_scale=scale)


# listeners ------------------------------------------------------------------


def test_listeners_run_after_each_advance_with_the_new_time(manual: Clock) -> None:
    seen: list[float] = []
    also: list[float] = []
    manual.on_advance(seen.append)
    manual.on_advance(also.append)
    manual.advance(10)
    manual.advance(5)
    assert seen == [START + 10, START + 15]
    assert also == seen


def test_listener_sees_the_clock_already_moved(manual: Clock) -> None:
    observed: list[float] = []
    manual.on_advance(lambda _now: observed.append(manual.now()))
    manual.advance(42)
    assert observed == [START + 42]


def test_listeners_do_not_run_without_an_advance(manual: Clock, wall: FakeWall) -> None:
    seen: list[float] = []
    manual.on_advance(seen.append)
    wall.now += 100
    manual.now()
    assert seen == []


# instants -------------------------------------------------------------------


def test_format_instant_gives_iso_8601_utc_with_milliseconds() -> None:
    assert format_instant(START) == "2026-06-03T10:00:00.000Z"
    assert format_instant(START + 192.5) == "2026-06-03T10:03:12.500Z"
    assert format_instant(START + 0.007) == "2026-06-03T10:00:00.007Z"


def test_format_instant_in_whole_seconds() -> None:
    assert format_instant(START + 192.9, "seconds") == "2026-06-03T10:03:12Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-03T10:00:00Z", START),
        ("2026-06-03T10:00:00.000Z", START),
        ("2026-06-03T10:03:12.250Z", START + 192.25),
        ("2026-06-03T12:00:00+02:00", START),
        ("2026-06-03T10:00:00", START),  # no zone: read as UTC
    ],
)
def test_parse_instant_reads_iso_8601(text: str, expected: float) -> None:
    assert parse_instant(text) == pytest.approx(expected)


@pytest.mark.parametrize("offset", [0.0, 0.001, 186.176, 86399.999, 1209600.0])
def test_format_and_parse_round_trip_to_the_millisecond(offset: float) -> None:
    instant = round(START + offset, 3)
    assert parse_instant(format_instant(instant)) == pytest.approx(instant, abs=1e-6)
