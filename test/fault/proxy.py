"""A small threaded TCP proxy that injects faults between glancesync and one Glance.

It listens on RegionProxy's endpoint and forwards to RegionThree's Glance (their
ports are the running cloud's, from tools/devcloud/topology.py). The servers answer
with ``Connection: close``, so a connection carries one HTTP request; the proxy reads
its head and then, in the mode set at that moment:

* passes it through (the default), optionally throttling the upload direction;
* resets the connection (SO_LINGER 0, so the client gets ECONNRESET);
* answers ``503 Service Unavailable`` with ``Retry-After: 1`` itself;
* passes it through, but flips one byte of the body of a ``PUT .../file``
  upload after its first 4 KiB (inside a chunk's data when the body is chunked,
  so the framing stays intact and only the content differs).

Modes change at runtime; ``counts`` says what the proxy did (connections, pass, reset,
fail = 503 answers, corrupted) and ``requests`` lists the request lines seen.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter

from tools.devcloud import topology

CORRUPT_AFTER = 4096  # body bytes left intact before the flipped one
_PIECE = 64 * 1024
_BODY = b"503 Service Unavailable (fault proxy)\n"
_ANSWER_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def _abort(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Corrupter:
    """Flips one body byte past CORRUPT_AFTER; with chunked framing, only inside chunk data."""

    def __init__(self, chunked: bool) -> None:
        self.chunked, self.seen, self.flipped = chunked, 0, False
        self.state, self.line, self.left = "size", b"", 0  # size line, data or CRLF

    def feed(self, data: bytes) -> bytes:
        buf, i = bytearray(data), 0
        while i < len(buf) and not self.flipped:
            if not self.chunked or self.state == "data":
                n = min(self.left, len(buf) - i) if self.chunked else len(buf) - i
                if self.seen + n > CORRUPT_AFTER:
                    buf[i + max(0, CORRUPT_AFTER - self.seen)] ^= 0xFF
                    self.flipped = True
                self.seen, self.left, i = self.seen + n, self.left - n, i + n
                if self.chunked and self.left == 0:
                    self.state = "crlf"
                continue
            j = buf.find(b"\n", i)
            if j < 0:
                self.line, i = self.line + bytes(buf[i:]), len(buf)
            elif self.state == "crlf":
                self.line, i, self.state = b"", j + 1, "size"
            else:
                size = (self.line + bytes(buf[i:j])).split(b";")[0].strip()
                self.left = int(size or b"0", 16)
                self.line, i, self.state = b"", j + 1, "data"
        return bytes(buf)


class FaultProxy:
    def __init__(
        self, listen: tuple[str, int] | None = None, upstream: tuple[str, int] | None = None
    ):
        layout = topology.load()
        proxied = topology.PROXIED[0]
        self.listen = listen or (layout.host, layout.ports[proxied.name])
        self.upstream = upstream or (layout.host, layout.ports[proxied.upstream])
        self.counts: Counter[str] = Counter()
        self.requests: list[str] = []  # request lines seen, in order
        self._lock = threading.Lock()
        self._resets = self._fails = 0
        self._reset_match = self._fail_match = ""
        self._corrupt = False
        self._rate: float | None = None
        self._stop = threading.Event()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None

    def reset_next(self, n: int, match: str = "") -> None:
        """Reset the next n connections whose request line contains `match`."""
        with self._lock:
            self._resets, self._reset_match = n, match

    def fail_next(self, n: int, match: str = "") -> None:
        """Answer 503 to the next n requests whose request line contains `match`."""
        with self._lock:
            self._fails, self._fail_match = n, match

    def corrupt_uploads(self, on: bool = True) -> None:
        with self._lock:
            self._corrupt = on

    def throttle(self, bytes_per_second: float | None) -> None:
        """Limit the client-to-server direction (uploads); None: full speed."""
        with self._lock:
            self._rate = bytes_per_second

    def pass_through(self) -> None:
        with self._lock:
            self._resets = self._fails = 0
            self._corrupt, self._rate = False, None

    def start(self) -> FaultProxy:
        self._server = socket.create_server(self.listen, backlog=64)  # SO_REUSEADDR on POSIX
        self._server.settimeout(0.2)
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            live = list(self._live)
        for sock in live:
            _abort(sock)
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._server is not None:
            self._server.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _track(self, sock: socket.socket, on: bool) -> None:
        with self._lock:
            (self._live.add if on else self._live.discard)(sock)

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._track(client, True)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = client.recv(_PIECE)
                if not piece:
                    return  # the client gave up before sending a whole request head
                data += piece
            head, rest = data.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            with self._lock:
                self.counts["connections"] += 1
                self.requests.append(line)
                mode = "pass"
                if self._resets and self._reset_match in line:
                    mode, self._resets = "reset", self._resets - 1
                elif self._fails and self._fail_match in line:
                    mode, self._fails = "fail", self._fails - 1
                self.counts[mode] += 1
                corrupt, rate = self._corrupt, self._rate
            if mode == "reset":
                return _abort(client)
            if mode == "fail":
                self._drain(client, head, rest)
                client.sendall(_ANSWER_503)
                return client.close()
            method, path = ([*line.split(), "", ""])[:2]
            corrupter = None
            if corrupt and method == "PUT" and path.rstrip("/").endswith("/file"):
                corrupter = _Corrupter(b"transfer-encoding: chunked" in head.lower())
            upstream = socket.create_connection(self.upstream, timeout=10)
            upstream.settimeout(None)
            self._track(upstream, True)
            upstream.sendall(head)
            back = threading.Thread(target=self._pump, args=(upstream, client, None, None))
            back.start()
            self._pump(client, upstream, corrupter, rate, rest)
            back.join()
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    self._track(sock, False)
                    sock.close()

    def _drain(self, client: socket.socket, head: bytes, data: bytes) -> None:
        """Read the request body (up to 64 MiB), so the client gets to read our answer."""
        low, size = head.lower(), 0
        chunked = b"transfer-encoding: chunked" in low
        if b"content-length:" in low:
            size = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(data) < 2**26 and (
            not data.endswith(b"0\r\n\r\n") if chunked else len(data) < size
        ):
            piece = client.recv(_PIECE)
            if not piece:
                return
            data += piece

    def _pump(self, src, dst, corrupter, rate, first=b"") -> None:  # type: ignore[no-untyped-def]
        started, sent = time.monotonic(), 0
        try:
            data = first
            while True:
                if data:
                    if corrupter is not None and not corrupter.flipped:
                        data = corrupter.feed(data)
                        self.counts["corrupted"] += corrupter.flipped
                    dst.sendall(data)
                    sent += len(data)
                    if rate:
                        ahead = sent / rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
                data = src.recv(_PIECE if not rate else min(_PIECE, max(1024, int(rate / 20))))
                if not data:
                    break
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            # one side broke: break the other too, abruptly, as a dying server would
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
