"""Rendered MP4s and PNGs match their spec, and the cache renders each file once."""

from __future__ import annotations

import pathlib
import re
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import av
import pytest

from mockserver.engine import media
from mockserver.engine.media import MediaCache, render_png, render_video
from mockserver.engine.model import MediaSpec

SMALL = MediaSpec(width=64, height=36, frames=24, fps=24, audio=False)


@pytest.fixture
def cache(tmp_path: pathlib.Path) -> MediaCache:
    return MediaCache(tmp_path / "media")


def _seconds(stream: av.stream.Stream) -> float:
    assert stream.duration is not None
    assert stream.time_base is not None
    return float(stream.duration * stream.time_base)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        (MediaSpec(64, 36, 48, 24, audio=False), (64, 36)),
        (MediaSpec(64, 36, 25, 24, audio=True), (64, 36)),  # 25 frames: the +1 quirk
        (MediaSpec(63, 35, 12, 24, audio=True), (64, 36)),  # odd sizes round up
    ],
)
def test_video_matches_spec(cache: MediaCache, spec: MediaSpec, size: tuple[int, int]) -> None:
    with av.open(str(cache.video(spec))) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.width, video.height) == size
        assert video.format.name == "yuv420p"
        assert video.average_rate == 24
        assert _seconds(video) == pytest.approx(spec.frames / spec.fps, abs=0.001)
        audio = container.streams.audio
        assert len(audio) == int(spec.audio)
        if spec.audio:
            assert audio[0].codec_context.name == "aac"
            assert audio[0].sample_rate == 48000
            assert audio[0].channels == 2
            # The edit list is in the 1/1000 s movie timescale: audio ends within 1 ms.
            assert _seconds(audio[0]) == pytest.approx(spec.frames / spec.fps, abs=0.001)
        assert sum(1 for _ in container.decode(video=0)) == spec.frames


def test_render_video_returns_a_faststart_mp4() -> None:
    data = render_video(SMALL)
    assert data[4:8] == b"ftyp"
    assert b"moov" in data[: data.index(b"mdat")]  # faststart: index before media


@pytest.mark.parametrize(("width", "height"), [(64, 36), (63, 35), (1, 1)])
def test_png_has_the_requested_size(width: int, height: int) -> None:
    assert _png_size(render_png(width, height)) == (width, height)


def test_last_frame_is_a_png_of_the_spec_size(cache: MediaCache) -> None:
    spec = MediaSpec(63, 35, 12, 24, audio=False)
    path = cache.last_frame(spec)
    assert path.suffix == ".png"
    assert _png_size(path.read_bytes()) == (63, 35)


def test_spec_key_is_filesystem_safe_and_distinct() -> None:
    specs = {
        SMALL,
        MediaSpec(64, 36, 25, 24, audio=False),
        MediaSpec(64, 36, 24, 24, audio=True),
        MediaSpec(64, 36, 24, 24, audio=True, sample_rate=44100),
        MediaSpec(36, 64, 24, 24, audio=False),
    }
    keys = {spec.key for spec in specs}
    assert len(keys) == len(specs)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", key) for key in keys)
    with pytest.raises(ValueError, match="frames"):
        MediaSpec(64, 36, 0, 24, audio=False)


def test_second_call_is_a_cache_hit(cache: MediaCache) -> None:
    first = cache.video(SMALL)
    assert cache.video(SMALL) == first
    cache.last_frame(SMALL)
    cache.last_frame(SMALL)
    stats = cache.stats()
    assert (stats["renders"], stats["hits"]) == (2, 2)
    expected = first.stat().st_size + cache.last_frame(SMALL).stat().st_size
    assert stats["bytes"] == expected


def test_concurrent_requests_render_once(
    cache: MediaCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[pathlib.Path] = []
    encode = media._encode_video
    barrier = threading.Barrier(8)

    def counting(spec: MediaSpec, path: pathlib.Path) -> None:
        calls.append(path)
        encode(spec, path)

    monkeypatch.setattr(media, "_encode_video", counting)

    def fetch(_: int) -> pathlib.Path:
        barrier.wait()
        return cache.video(SMALL)

    with ThreadPoolExecutor(8) as pool:
        paths = set(pool.map(fetch, range(8)))
    assert len(paths) == 1
    assert len(calls) == 1
    assert cache.stats()["renders"] == 1
    assert cache.stats()["hits"] == 7


def test_distinct_specs_give_distinct_files(cache: MediaCache) -> None:
    other = MediaSpec(64, 36, 24, 24, audio=True)
    assert cache.video(SMALL) != cache.video(other)
    assert cache.last_frame(SMALL) != cache.last_frame(MediaSpec(36, 64, 24, 24, audio=False))
    assert cache.stats()["renders"] == 4


def test_close_removes_only_a_directory_it_created(tmp_path: pathlib.Path) -> None:
    owned = MediaCache()
    created = owned.video(SMALL).parent
    assert created.name.startswith("seedance-mock-media-")
    owned.close()
    assert not created.exists()

    given = MediaCache(tmp_path)
    kept = given.video(SMALL)
    given.close()
    assert kept.exists()


def test_partial_file_is_never_visible(cache: MediaCache, monkeypatch: pytest.MonkeyPatch) -> None:
    final = cache.directory / f"{SMALL.key}.mp4"
    seen: list[pathlib.Path] = []

    def failing(spec: MediaSpec, path: pathlib.Path) -> None:
        seen.append(path)
        assert path.parent == cache.directory  # same filesystem, so the rename is atomic
        assert not final.exists()
        path.write_bytes(b"\x00\x00\x00\x20ftypisom half a file")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(media, "_encode_video", failing)
    with pytest.raises(RuntimeError, match="encoder died"):
        cache.video(SMALL)
    assert seen
    assert not final.exists()
    assert list(cache.directory.iterdir()) == []  # the temporary file is gone too

    monkeypatch.undo()
    assert cache.video(SMALL) == final
    with av.open(str(final)) as container:
        assert sum(1 for _ in container.decode(video=0)) == SMALL.frames
    assert cache.stats()["renders"] == 1
