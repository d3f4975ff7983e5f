"""Real output files for completed tasks: an MP4 and a PNG "last frame", cached on disk.

The picture is a static gradient and the audio is silence, so files are tiny and
the cost is libx264's per-frame pass, roughly linear in pixels x frames. Measured
on 2 cores, first request only (later ones are cache hits):
1280x720, 5 s + audio: 0.2 s, 12 kB     1920x1080, 10 s: 0.7 s, 15 kB
3840x2160, 15 s + audio: 5.5-6.5 s, 72 kB     496x864, 241 frames: 0.2 s, 9 kB
PNG last frame: 0.01 s (496x864) to 0.2 s (4K), 3-30 kB.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from mockserver.engine.model import MediaSpec

if TYPE_CHECKING:
    import av

_AAC_FRAME = 1024  # the AAC encoder takes exactly this many samples a frame (the last may be short)


def _even(n: int) -> int:
    return n + (n & 1)


def _picture(width: int, height: int) -> av.VideoFrame:
    """A yuv420p frame holding a left-to-right navy-to-white gradient."""
    import av  # imported on the first render, not at start-up (~60 ms)

    frame = av.VideoFrame(width, height, "yuv420p")
    y_plane, u_plane, v_plane = frame.planes
    for plane, values in (
        (y_plane, [16 + 219 * x // max(y_plane.width - 1, 1) for x in range(y_plane.width)]),
        (u_plane, [150] * u_plane.width),
        (v_plane, [112] * v_plane.width),
    ):
        # Rows may be padded past the visible width; update() wants the whole buffer.
        row = bytes(values) + bytes(plane.line_size - plane.width)
        plane.update(row * plane.height)
    return frame


def _encode_video(spec: MediaSpec, path: pathlib.Path) -> None:
    """Write the MP4 for ``spec`` to ``path`` (overwriting it)."""
    import av

    # faststart puts the index first so players can start from a range request.
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        # Constant QP skips rate control: about a third faster than CRF at 4K.
        options = {"preset": "ultrafast", "tune": "stillimage", "qp": "26"}
        video = out.add_stream("libx264", rate=spec.fps, options=options)
        video.width, video.height, video.pix_fmt = _even(spec.width), _even(spec.height), "yuv420p"
        audio = (
            out.add_stream("aac", rate=spec.sample_rate, layout="stereo") if spec.audio else None
        )
        chunks = _silence(spec)
        sent = 0  # audio samples encoded so far
        frame = _picture(video.width, video.height)
        frame.time_base = Fraction(1, spec.fps)
        for index in range(spec.frames):
            # One frame object reused; pts in 1/fps units makes the stream last frames/fps.
            frame.pts = index
            out.mux(video.encode(frame))
            # Interleave: audio up to the end of this frame, so the muxer buffers little.
            while audio is not None and sent * spec.fps < (index + 1) * spec.sample_rate:
                if (chunk := next(chunks, None)) is None:
                    break
                out.mux(audio.encode(chunk))
                sent += chunk.samples
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))


def _silence(spec: MediaSpec) -> Iterator[av.AudioFrame]:
    """Silent stereo frames covering frames/fps seconds (rounded to a sample)."""
    import av

    rate = spec.sample_rate
    total = (spec.frames * rate + spec.fps // 2) // spec.fps
    chunk: av.AudioFrame | None = None
    for start in range(0, total, _AAC_FRAME):
        samples = min(_AAC_FRAME, total - start)
        if chunk is None or chunk.samples != samples:
            chunk = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
            chunk.sample_rate, chunk.time_base = rate, Fraction(1, rate)
            for plane in chunk.planes:
                plane.update(bytes(plane.buffer_size))
        chunk.pts = start
        yield chunk


def render_video(spec: MediaSpec) -> bytes:
    """The complete MP4 for ``spec``: H.264 yuv420p video lasting exactly frames/fps
    seconds, plus a silent stereo AAC track of the same length when ``spec.audio``."""
    with tempfile.TemporaryDirectory(prefix="seedance-mock-render-") as scratch:
        path = pathlib.Path(scratch) / "video.mp4"
        _encode_video(spec, path)  # faststart needs a real file to rewrite
        return path.read_bytes()


def render_png(width: int, height: int) -> bytes:
    """A PNG of exactly ``width`` x ``height`` showing the video's picture."""
    import av

    frame = _picture(width, height).reformat(format="rgb24")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "rgb24"
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


class MediaCache:
    """Rendered files in one directory, each rendered once and only ever seen complete.

    Threads asking for the same file wait on a per-file lock while one renders it.
    Files are written under a hidden temporary name and renamed into place, so
    processes sharing the directory never read a partial file (two of them may
    both render it; the last rename wins with identical content).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._owned = directory is None
        if directory is None:
            self.directory = pathlib.Path(tempfile.mkdtemp(prefix="seedance-mock-media-"))
        else:
            self.directory = pathlib.Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._renders = 0
        self._hits = 0

    def video(self, spec: MediaSpec) -> pathlib.Path:
        """Path of the MP4 for ``spec`` (see :func:`render_video`), rendered on first use."""
        return self._file(f"{spec.key}.mp4", lambda path: _encode_video(spec, path))

    def last_frame(self, spec: MediaSpec) -> pathlib.Path:
        """Path of the PNG (exactly ``spec.width`` x ``spec.height``), rendered on first use."""
        return self._file(
            f"{spec.width}x{spec.height}.png",
            lambda path: path.write_bytes(render_png(spec.width, spec.height)),
        )

    def close(self) -> None:
        """Remove the directory if this cache created it; a given directory is kept."""
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stats(self) -> dict[str, int]:
        """Renders done and cache hits by this object, and bytes of complete files on disk."""
        size = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                if not entry.name.startswith("."):  # in-progress renders are hidden
                    with contextlib.suppress(FileNotFoundError):
                        size += entry.stat().st_size
        with self._guard:
            return {"renders": self._renders, "hits": self._hits, "bytes": size}

    def _file(self, name: str, render: Callable[[pathlib.Path], object]) -> pathlib.Path:
        final = self.directory / name
        if not final.exists():
            with self._guard:
                lock = self._locks.setdefault(name, threading.Lock())
            with lock:
                if not final.exists():
                    # Render under a hidden name in the same directory, then rename:
                    # os.replace is atomic, so no reader ever opens a partial file.
                    fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.")
                    os.close(fd)
                    try:
                        render(pathlib.Path(temporary))
                        os.chmod(temporary, 0o644)  # mkstemp's 0600 would lock out other users
                        os.replace(temporary, final)
                    except BaseException:
                        pathlib.Path(temporary).unlink(missing_ok=True)
                        raise
                    with self._guard:
                        self._renders += 1
                    return final
        with self._guard:
            self._hits += 1
        return final
