"""HTTP/1.1 framing, good and broken, for requests sent as bytes over a socket.

``FRAMINGS`` names each way of putting a ``Probe`` on the wire: well framed
(Content-Length, chunked, absolute-form, HTTP/1.0...) or broken (chunk sizes
that lie, Content-Length mismatches, header folding, NUL and control bytes,
invalid UTF-8, bare LF or CR, huge lines, too many headers, broken request
lines). ``frame(name, probe, host, n)`` builds the ``Wire``: the exact bytes of
one connection, varied by ``n`` (where a byte goes, which variant).

``reproduction(wire)`` is a shell line that sends the same bytes again.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace

from tests.reliability.conftest import Probe

CRLF = b"\r\n"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Wire:
    """The bytes of one connection, and how to read its answer."""

    framing: str
    data: bytes
    #: the path the server reads from the request line; None when the line is broken
    #: so that no owner can be told
    path: str | None
    #: shut the write side after the bytes: they are short of what they announce,
    #: and only the client's end tells the server that no more is coming
    half_close: bool = False
    #: a lenient server reads ``path`` from the request line, a strict one may not
    #: (and may then answer in any provider's envelope, DECISIONS C10)
    lenient: bool = False
    #: the method the server reads, when not the probe's
    method: str | None = None


# putting a request together ------------------------------------------------------------------


def _target(probe: Probe) -> bytes:
    return (probe.path + (f"?{probe.query}" if probe.query else "")).encode("latin-1")


def _line(probe: Probe, *, method: bytes | None = None, target: bytes | None = None) -> bytes:
    verb = method if method is not None else probe.method.encode("latin-1")
    return b" ".join([verb, target if target is not None else _target(probe), b"HTTP/1.1"])


def _fields(probe: Probe, host: str, *, connection: bool = True) -> list[bytes]:
    lines = [f"Host: {host}"] + (["Connection: close"] if connection else [])
    lines += [f"{name}: {value}" for name, value in probe.headers.items()]
    return [line.encode("latin-1") for line in lines]


def _message(line: bytes, fields: list[bytes], body: bytes = b"", eol: bytes = CRLF) -> bytes:
    return line + eol + b"".join(f + eol for f in fields) + eol + body


def _length(body: bytes) -> bytes:
    return b"Content-Length: %d" % len(body)


def _chunked(body: bytes, size: int, size_format: bytes = b"%x", ext: bytes = b"") -> bytes:
    size = max(1, size)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    chunks = b"".join(size_format % len(p) + ext + CRLF + p + CRLF for p in pieces)
    return chunks + b"0" + CRLF + CRLF


def _framed(
    probe: Probe, host: str, extra: list[bytes], body: bytes, *, line: bytes | None = None
) -> bytes:
    return _message(line or _line(probe), _fields(probe, host) + extra, body)


def _body(probe: Probe) -> bytes:
    """A body for framings that need one to break (a GET's is usually empty)."""
    return probe.body or b'{"prompt": "a body where none was expected"}'


# well framed --------------------------------------------------------------------------------

Build = Callable[[Probe, str, int], Wire]


def content_length(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _framed(p, host, [_length(p.body)], p.body), p.path)


def chunked(p: Probe, host: str, n: int) -> Wire:
    body = _chunked(p.body, 1 + n % max(1, len(p.body)))
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path)


def chunked_with_extensions_and_trailer(p: Probe, host: str, n: int) -> Wire:
    body = _chunked(p.body, 1 + n % 64, b"%04X", b";ext=%d" % n)
    body = body[: -len(CRLF)] + b"X-Trailer: %d" % n + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path)


def expect_continue(p: Probe, host: str, n: int) -> Wire:
    extra = [b"Expect: 100-continue", _length(p.body)]
    return Wire("", _framed(p, host, extra, p.body), p.path)


def http_1_0(p: Probe, host: str, n: int) -> Wire:
    line = _line(p)[: -len(b"1.1")] + b"1.0"
    fields = _fields(p, host, connection=False)[n % 2 :]  # with and without Host
    return Wire("", _message(line, [*fields, _length(p.body)], p.body), p.path)


def absolute_form(p: Probe, host: str, n: int) -> Wire:
    line = _line(p, target=f"http://{host}".encode() + _target(p))
    return Wire("", _framed(p, host, [_length(p.body)], p.body, line=line), p.path)


def no_host(p: Probe, host: str, n: int) -> Wire:
    fields = _fields(p, host)[1:]
    return Wire("", _message(_line(p), [*fields, _length(p.body)], p.body), p.path)


def odd_case_and_spaces(p: Probe, host: str, n: int) -> Wire:
    """Field names in another case, values padded with spaces and tabs (all legal)."""
    fields = []
    for field in [*_fields(p, host), _length(p.body)]:
        name, _, value = field.partition(b":")
        name = name.lower() if n % 2 else name.upper()
        fields.append(name + b":" + b" \t" * (1 + n % 3) + value.strip() + b" \t")
    return Wire("", _message(_line(p), fields, p.body), p.path)


def empty_lines_first(p: Probe, host: str, n: int) -> Wire:
    """RFC 9112 2.2: a server should ignore empty lines before the request line."""
    wire = CRLF * (1 + n % 2) + _framed(p, host, [_length(p.body)], p.body)
    return Wire("", wire, p.path, lenient=True)


# broken body framing --------------------------------------------------------------------------

_BAD_SIZES = (b"zz", b"0x10", b"-1", b"1 2", b"", b"+5", b"\xff", b"1_0", b"0.5")


def chunk_size_not_hex(p: Probe, host: str, n: int) -> Wire:
    body = _BAD_SIZES[n % len(_BAD_SIZES)] + CRLF + _body(p) + CRLF + b"0" + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path)


def chunk_size_beyond_the_data(p: Probe, host: str, n: int) -> Wire:
    data = _body(p)
    body = b"%x" % (len(data) + 1 + n % 500) + CRLF + data + CRLF + b"0" + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path, True)


def chunk_size_short_of_the_data(p: Probe, host: str, n: int) -> Wire:
    data = _body(p)
    body = b"%x" % (n % len(data)) + CRLF + data + CRLF + b"0" + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path)


def chunk_without_its_crlf(p: Probe, host: str, n: int) -> Wire:
    data = _body(p)
    body = b"%x" % len(data) + CRLF + data + b"0" + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path, True)


def no_last_chunk(p: Probe, host: str, n: int) -> Wire:
    body = _chunked(_body(p), 1 + n % 64)[: -len(b"0\r\n\r\n")]
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path, True)


def huge_chunk_size(p: Probe, host: str, n: int) -> Wire:
    size = (b"f" * 20, b"7fffffffffffffff", b"10000000000", b"0" * 100 + b"1")[n % 4]
    body = size + CRLF + _body(p) + CRLF + b"0" + CRLF + CRLF
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path, True)


def chunk_lines_end_in_bare_lf(p: Probe, host: str, n: int) -> Wire:
    body = _chunked(_body(p), 1 + n % 64).replace(CRLF, b"\n")
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], body), p.path, True)


def chunked_but_not_chunked(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _framed(p, host, [b"Transfer-Encoding: chunked"], _body(p)), p.path, True)


_CODINGS = (
    b"gzip",
    b"gzip, chunked",
    b"identity",
    b"chunked, chunked",
    b"Chunked",
    b"chunked;q=1",
    b" chunked ",
    b"x-custom",
    b"chunked, gzip",
    b"",
)


def other_transfer_coding(p: Probe, host: str, n: int) -> Wire:
    coding = _CODINGS[n % len(_CODINGS)]
    last = coding.split(b",")[-1].strip().lower()
    body = _chunked(p.body, 16) if last == b"chunked" else _body(p)
    wire = _framed(p, host, [b"Transfer-Encoding: " + coding], body)
    return Wire("", wire, p.path, half_close=last != b"chunked")


def content_length_short_of_the_body(p: Probe, host: str, n: int) -> Wire:
    data = _body(p)
    length = b"Content-Length: %d" % (n % len(data))
    return Wire("", _framed(p, host, [length], data), p.path)


def content_length_beyond_the_body(p: Probe, host: str, n: int) -> Wire:
    length = b"Content-Length: %d" % (len(p.body) + 1 + n % 1000)
    return Wire("", _framed(p, host, [length], p.body), p.path, True)


_BAD_LENGTHS = (b"+5", b"-1", b"0x10", b"1e3", b"5 5", b"", b"ten", b"\xd9\xa1\xd9\xa2", b"5,5")


def content_length_not_a_number(p: Probe, host: str, n: int) -> Wire:
    length = b"Content-Length: " + _BAD_LENGTHS[n % len(_BAD_LENGTHS)]
    return Wire("", _framed(p, host, [length], p.body), p.path, True)


def content_length_twice(p: Probe, host: str, n: int) -> Wire:
    second = len(p.body) if n % 2 else len(p.body) + 1 + n % 10
    extra = [_length(p.body), b"Content-Length: %d" % second]
    return Wire("", _framed(p, host, extra, p.body), p.path, half_close=second != len(p.body))


def content_length_and_chunked(p: Probe, host: str, n: int) -> Wire:
    body = _chunked(_body(p), 1 + n % 64)
    extra = [b"Content-Length: %d" % (n % len(body)), b"Transfer-Encoding: chunked"]
    if n % 2:
        extra.reverse()
    return Wire("", _framed(p, host, extra, body), p.path)


def huge_content_length(p: Probe, host: str, n: int) -> Wire:
    length = b"Content-Length: " + (b"1" + b"0" * (18 + n % 40))
    return Wire("", _framed(p, host, [length], p.body), p.path, True)


def body_over_1_mib(p: Probe, host: str, n: int) -> Wire:
    body = p.body + b" " * (MIB + 1 + n % MIB)
    return Wire("", _framed(p, host, [_length(body)], body), p.path)


# broken header fields -------------------------------------------------------------------------


def _spoil_field(p: Probe, host: str, n: int, spoil: Callable[[bytes], bytes]) -> bytes:
    """The request with one header field (the n-th) spoiled."""
    fields = [*_fields(p, host), _length(p.body)]
    at = n % len(fields)
    fields[at] = spoil(fields[at])
    return _message(_line(p), fields, p.body)


def _in_value(field: bytes, insert: bytes, n: int) -> bytes:
    name, _, value = field.partition(b": ")
    at = n % (len(value) + 1)
    return name + b": " + value[:at] + insert + value[at:]


def folded_field(p: Probe, host: str, n: int) -> Wire:
    fold = (b"\r\n folded", b"\r\n\tfolded", b"\r\n ")[n % 3]
    return Wire("", _spoil_field(p, host, n, lambda f: f + fold), p.path)


def nul_in_a_value(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _spoil_field(p, host, n, lambda f: _in_value(f, b"\x00", n)), p.path)


def nul_in_a_name(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _spoil_field(p, host, n, lambda f: f[:1] + b"\x00" + f[1:]), p.path)


_CONTROLS = (b"\x01", b"\x07", b"\x0b", b"\x0c", b"\x1b", b"\x7f", b"\r", b"\n")


def control_byte_in_a_value(p: Probe, host: str, n: int) -> Wire:
    byte = _CONTROLS[n % len(_CONTROLS)]
    return Wire("", _spoil_field(p, host, n, lambda f: _in_value(f, byte, n // 8)), p.path)


def invalid_utf8_in_a_value(p: Probe, host: str, n: int) -> Wire:
    junk = (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf")[n % 4]
    return Wire("", _spoil_field(p, host, n, lambda f: _in_value(f, junk, n // 4)), p.path)


def utf8_in_a_value(p: Probe, host: str, n: int) -> Wire:
    text = "tâche 漢字 🎬".encode()
    return Wire("", _spoil_field(p, host, n, lambda f: _in_value(f, text, n)), p.path)


def space_before_the_colon(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _spoil_field(p, host, n, lambda f: f.replace(b":", b" :", 1)), p.path)


def field_without_a_colon(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _spoil_field(p, host, n, lambda f: f.replace(b":", b"", 1)), p.path)


def field_without_a_name(p: Probe, host: str, n: int) -> Wire:
    return Wire("", _spoil_field(p, host, n, lambda f: b":" + f.partition(b":")[2]), p.path)


def field_twice(p: Probe, host: str, n: int) -> Wire:
    twice = (b"Host: elsewhere.example", b"Authorization: Bearer another-key")[n % 2]
    return Wire("", _framed(p, host, [twice, _length(p.body)], p.body), p.path)


def value_over_8_kb(p: Probe, host: str, n: int) -> Wire:
    big = b"X-Big: " + b"v" * (8193 + n % 50000)
    return Wire("", _framed(p, host, [big, _length(p.body)], p.body), p.path)


def line_over_64_kb(p: Probe, host: str, n: int) -> Wire:
    big = b"X-Big: " + b"v" * (65537 + n % 200000)
    return Wire("", _framed(p, host, [big, _length(p.body)], p.body), p.path)


def name_over_8_kb(p: Probe, host: str, n: int) -> Wire:
    big = b"X-" + b"N" * (8193 + n % 50000) + b": v"
    return Wire("", _framed(p, host, [big, _length(p.body)], p.body), p.path)


def over_100_fields(p: Probe, host: str, n: int) -> Wire:
    many = [b"X-Many-%d: %d" % (i, i) for i in range(101 + n % 400)]
    return Wire("", _framed(p, host, [*many, _length(p.body)], p.body), p.path)


# broken request lines -------------------------------------------------------------------------


def _with_line(p: Probe, host: str, line: bytes, path: str | None) -> Wire:
    return Wire("", _framed(p, host, [_length(p.body)], p.body, line=line), path)


def _in_path(p: Probe, n: int, insert: bytes) -> tuple[bytes, str]:
    path = p.path.encode("latin-1")
    at = 1 + n % max(1, len(path))
    spoilt = path[:at] + insert + path[at:]
    query = f"?{p.query}".encode("latin-1") if p.query else b""
    return spoilt + query, spoilt.decode("latin-1")


def lowercase_method(p: Probe, host: str, n: int) -> Wire:
    return _with_line(p, host, _line(p, method=p.method.lower().encode()), p.path)


def method_over_8_kb(p: Probe, host: str, n: int) -> Wire:
    method = "X" * (8193 + n % 50000)
    wire = _with_line(p, host, _line(p, method=method.encode()), p.path)
    return replace(wire, method=method)


def nul_in_the_path(p: Probe, host: str, n: int) -> Wire:
    target, path = _in_path(p, n, b"\x00")
    return _with_line(p, host, _line(p, target=target), path)


def invalid_utf8_in_the_path(p: Probe, host: str, n: int) -> Wire:
    target, path = _in_path(p, n, (b"\xff\xfe", b"\xc3\x28", b"\x80")[n % 3])
    return _with_line(p, host, _line(p, target=target), path)


def utf8_in_the_path(p: Probe, host: str, n: int) -> Wire:
    target, path = _in_path(p, n, "tâche-漢字".encode())
    return _with_line(p, host, _line(p, target=target), path)


def raw_bytes_in_the_query(p: Probe, host: str, n: int) -> Wire:
    junk = (b"\xe9t\xe9", b"\x00", b"\xff", b" ", b"#frag", b"\x7f")[n % 6]
    target = _target(p) + (b"&" if p.query else b"?") + b"task_id=" + junk
    path = p.path if junk != b" " else None  # a space ends the target early
    return _with_line(p, host, _line(p, target=target), path)


def path_over_1_mb(p: Probe, host: str, n: int) -> Wire:
    target = p.path.encode("latin-1") + b"a" * (MIB + n % MIB)
    return _with_line(p, host, _line(p, target=target), target.decode("latin-1"))


_VERSIONS = (
    b"HTTP/2.0",
    b"HTTP/1.2",
    b"http/1.1",
    b"HTTP/11",
    b"HTTP/1.1.1",
    b"HTTP/",
    b"HTTX/1.1",
)


def unknown_version(p: Probe, host: str, n: int) -> Wire:
    line = _line(p)[: -len(b"HTTP/1.1")] + _VERSIONS[n % len(_VERSIONS)]
    return _with_line(p, host, line, p.path)


def no_version(p: Probe, host: str, n: int) -> Wire:
    return _with_line(p, host, _line(p)[: -len(b" HTTP/1.1")], p.path)


def extra_words(p: Probe, host: str, n: int) -> Wire:
    return _with_line(p, host, _line(p) + b" extra" * (1 + n % 3), p.path)


def odd_separators(p: Probe, host: str, n: int) -> Wire:
    separator = (b"  ", b"\t", b" \t", b"\x0b")[n % 4]
    wire = _with_line(p, host, _line(p).replace(b" ", separator), p.path)
    return replace(wire, lenient=True)


def bare_lf_line_ends(p: Probe, host: str, n: int) -> Wire:
    wire = _message(_line(p), [*_fields(p, host), _length(p.body)], p.body, b"\n")
    return Wire("", wire, p.path, lenient=True)


def bare_cr_line_ends(p: Probe, host: str, n: int) -> Wire:
    wire = _framed(p, host, [_length(p.body)], p.body)
    head, _, body = wire.partition(CRLF + CRLF)
    head = head.replace(CRLF, b"\r", 1 + n % 3)
    return Wire("", head + CRLF + CRLF + body, p.path)


def garbage_line(p: Probe, host: str, n: int) -> Wire:
    junk = (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"\x00" * 8, b"PRI * HTTP/2.0")[n % 3]
    return Wire("", junk + CRLF + CRLF, None)


_FAMILIES: dict[str, dict[str, Build]] = {
    "well framed": {
        "Content-Length": content_length,
        "chunked": chunked,
        "chunked, extensions and a trailer": chunked_with_extensions_and_trailer,
        "Expect: 100-continue": expect_continue,
        "HTTP/1.0": http_1_0,
        "absolute-form target": absolute_form,
        "no Host": no_host,
        "field names in odd case, values padded": odd_case_and_spaces,
        "empty lines before the request line": empty_lines_first,
    },
    "body framing broken": {
        "chunk size not hex": chunk_size_not_hex,
        "chunk size beyond the data": chunk_size_beyond_the_data,
        "chunk size short of the data": chunk_size_short_of_the_data,
        "chunk data without its CRLF": chunk_without_its_crlf,
        "no last chunk": no_last_chunk,
        "huge chunk size": huge_chunk_size,
        "chunk lines ending in bare LF": chunk_lines_end_in_bare_lf,
        "chunked announced, body not chunked": chunked_but_not_chunked,
        "other transfer codings": other_transfer_coding,
        "Content-Length short of the body": content_length_short_of_the_body,
        "Content-Length beyond the body": content_length_beyond_the_body,
        "Content-Length not a number": content_length_not_a_number,
        "Content-Length twice": content_length_twice,
        "Content-Length and chunked": content_length_and_chunked,
        "Content-Length over 10**18": huge_content_length,
        "body over 1 MiB": body_over_1_mib,
    },
    "header fields broken": {
        "folded (obs-fold)": folded_field,
        "NUL in a value": nul_in_a_value,
        "NUL in a name": nul_in_a_name,
        "control byte in a value": control_byte_in_a_value,
        "invalid UTF-8 in a value": invalid_utf8_in_a_value,
        "UTF-8 in a value": utf8_in_a_value,
        "space before the colon": space_before_the_colon,
        "no colon": field_without_a_colon,
        "no name": field_without_a_name,
        "Host or Authorization twice": field_twice,
        "value over 8 KB": value_over_8_kb,
        "line over 64 KB": line_over_64_kb,
        "name over 8 KB": name_over_8_kb,
        "over 100 fields": over_100_fields,
    },
    "request line broken": {
        "lowercase method": lowercase_method,
        "method over 8 KB": method_over_8_kb,
        "NUL in the path": nul_in_the_path,
        "invalid UTF-8 in the path": invalid_utf8_in_the_path,
        "raw UTF-8 in the path": utf8_in_the_path,
        "raw bytes in the query": raw_bytes_in_the_query,
        "path over 1 MB": path_over_1_mb,
        "unknown HTTP version": unknown_version,
        "no HTTP version": no_version,
        "extra words": extra_words,
        "tabs or double spaces between the parts": odd_separators,
        "bare LF line ends": bare_lf_line_ends,
        "bare CR line ends": bare_cr_line_ends,
        "not HTTP at all": garbage_line,
    },
}
#: every framing by name: (its family, how to build it)
FRAMINGS: dict[str, tuple[str, Build]] = {
    name: (family, build) for family, builds in _FAMILIES.items() for name, build in builds.items()
}
#: the framings in turn: plain Content-Length and chunked three times as often as the others
ROTATION = (*FRAMINGS, "Content-Length", "Content-Length", "chunked", "chunked")


def frame(name: str, probe: Probe, host: str, n: int) -> Wire:
    """``probe`` put on the wire the ``name`` way, varied by ``n``."""
    return replace(FRAMINGS[name][1](probe, host, n), framing=name)


# sending it again ------------------------------------------------------------------------------


def bytes_expression(data: bytes) -> str:
    """``data`` as a Python expression, runs of 32 or more equal bytes as ``b"x" * n``."""
    parts: list[str] = []
    literal = b""
    for byte, run in itertools.groupby(data):
        count = len(list(run))
        if count < 32:
            literal += bytes([byte]) * count
            continue
        if literal:
            parts.append(repr(literal))
            literal = b""
        parts.append(f"{bytes([byte])!r} * {count}")
    if literal or not parts:
        parts.append(repr(literal))
    return " + ".join(parts)


def reproduction(wire: Wire, port: int = 8000) -> str:
    """A shell line that sends exactly ``wire`` and prints what comes back."""
    shut = " s.shutdown(socket.SHUT_WR);" if wire.half_close else ""
    code = (
        f"import socket; s = socket.create_connection(('127.0.0.1', {port}));"
        f" s.sendall({bytes_expression(wire.data)});{shut} print(s.recv(65536))"
    )
    return f"python3 -c {shlex.quote(code)}"
