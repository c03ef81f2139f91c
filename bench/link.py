"""A slow, far link on loopback: a TCP proxy with a bandwidth, a latency and a cut.

Each proxy stands for one region's link: the bandwidth is shared by all its
connections, both directions each at ``rate`` bytes/s; every connection waits
``latency`` seconds before its first byte goes either way (a round trip).
``cut_after(n)`` drops the next connection after ``n`` bytes of the server's
answer (or of the client's request), as a broken WAN link does. ``sent`` and
``received`` count the bytes that crossed (towards the server and the client).

:class:`ProxiedFacade` is glancesync's own facade with the image endpoints of
some regions pointed at their proxies (the catalog cannot be changed on the
shared cloud), so the product's code path is the one measured.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from glancesync.cloud.connections import _RegionClients
from glancesync.cloud.glance import ServersFacade
from glancesync.config.settings import Settings
from glancesync.model.region import RegionRef

_PIECE = 64 * 1024


class _Pace:
    """A shared pacing of one direction of the link (no burst beyond one piece)."""

    def __init__(self, rate: float | None) -> None:
        self.rate, self._next, self._lock = rate, 0.0, threading.Lock()

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        if start > now:
            time.sleep(start - now)


class LinkProxy:
    """Forward 127.0.0.1:port (ephemeral) to ``upstream``, through a slow link."""

    def __init__(
        self, upstream: tuple[str, int], rate: float | None = None, latency: float = 0.0
    ) -> None:
        self.upstream, self.latency = upstream, latency
        self._up, self._down = _Pace(rate), _Pace(rate)
        self.sent = self.received = 0
        #: (byte count at which to break, towards the server?) of the next cut.
        self._cut: tuple[int, bool] | None = None
        self._cut_every = self._cuts_left = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_rate(self, rate: float | None) -> None:
        self._up.rate = self._down.rate = rate

    def cut_after(self, n: int, upward: bool = False, times: int = 1) -> None:
        """Break the connection that carries the link past ``n`` more bytes towards the
        client (or the server, ``upward``); ``times`` times, ``n`` bytes apart."""
        with self._lock:
            self._cut = ((self.sent if upward else self.received) + n, upward)
            self._cut_every, self._cuts_left = n, times - 1

    def __enter__(self) -> LinkProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=300)
        except OSError:
            client.close()
            return
        time.sleep(self.latency)
        done = threading.Event()
        up = threading.Thread(
            target=self._pump, args=(client, server, self._up, done, True), daemon=True
        )
        up.start()
        self._pump(server, client, self._down, done, False)
        up.join(timeout=300)

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        pace: _Pace,
        done: threading.Event,
        upward: bool,
    ) -> None:
        try:
            while not done.is_set():
                data = src.recv(_PIECE)
                if not data:
                    break
                pace.take(len(data))
                keep = self._count(upward, len(data))
                dst.sendall(data[:keep])
                if keep < len(data):
                    break
        except OSError:
            pass
        finally:
            done.set()
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _count(self, upward: bool, n: int) -> int:
        """Count ``n`` bytes going one way; how many may go before a cut."""
        with self._lock:
            moved = self.sent if upward else self.received
            if self._cut is not None and self._cut[1] == upward and moved + n >= self._cut[0]:
                n, upto = max(0, self._cut[0] - moved), self._cut[0]
                self._cut = (upto + self._cut_every, upward) if self._cuts_left else None
                self._cuts_left = max(0, self._cuts_left - 1)
            keep = n
            if upward:
                self.sent += n
            else:
                self.received += n
            return keep


class ProxiedFacade(ServersFacade):
    """glancesync's facade, with the image endpoints of some regions replaced."""

    def __init__(self, settings: Settings, endpoints: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        #: full region name -> base URL (a proxy's).
        self.endpoints = dict(endpoints)

    def _clients(self, region: RegionRef) -> _RegionClients:
        clients = super()._clients(region)
        url = self.endpoints.get(region.full)
        if url is not None:
            clients.api.endpoint_override = url
            clients.glance.http_client.endpoint_override = url
        return clients
