"""A hostile Keystone v3 and Glance v2 in one small stdlib HTTP server on loopback.

It serves just enough of both APIs for the real keystoneauth and
glanceclient code to work against it: a password token with a catalog
whose image endpoints are ``http://127.0.0.1:PORT/r/N`` (one per region,
region names as the test chooses, ``/`` and ``..`` included), and per
region a tiny Glance that lists, creates, stores (md5 and sha512, like
Glance), serves and deletes images. A test makes it hostile with
``Region.hook``: a function that sees each request first and may answer it
itself (crafted bodies, huge ``Retry-After``, foreign ``next`` links...).

Every request is recorded (``Server.requests``) with whether it carried a
token, so a test can assert what was, or was not, asked where.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN = "gAAAAAhostile-token-" + "x" * 40
PROJECT = "hostileproject"


@dataclass
class Answer:
    """What a hook answers: a status, headers and a body (bytes, or chunks to stream)."""

    status: int
    body: bytes | Iterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, doc: Any, **headers: str) -> Answer:
        return cls(
            status, json.dumps(doc).encode(), {"Content-Type": "application/json", **headers}
        )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: bool
    port: int


Hook = Callable[["Region", str, str, bytes], "Answer | None"]


@dataclass
class Region:
    """One region's Glance: images by id, their bytes, and an optional hook."""

    name: str
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    hook: Hook | None = None

    def add(self, data: bytes, **doc: Any) -> dict[str, Any]:
        """An active image with Glance's own checksums (any of them overridable)."""
        full = {
            "id": str(uuid.uuid4()),
            "status": "active",
            "visibility": "public",
            "owner": PROJECT,
            "size": len(data),
            "checksum": hashlib.md5(data).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
            "disk_format": "raw",
            "container_format": "bare",
            "min_ram": 0,
            "min_disk": 0,
            "protected": False,
            "os_hidden": False,
            "tags": [],
            **doc,
        }
        self.images[full["id"]] = full
        self.data[full["id"]] = data
        return full

    def active(self) -> list[dict[str, Any]]:
        return [doc for doc in self.images.values() if doc["status"] == "active"]

    # -- the Glance v2 calls glancesync makes -----------------------------

    def glance(self, method: str, path: str, body: bytes) -> Answer:
        parts = [p for p in urlsplit(path).path.split("/") if p][1:]  # after "v2"
        if parts == ["images"] and method == "GET":
            hidden = "os_hidden=true" in path
            docs = [d for d in self.images.values() if d.get("os_hidden", False) is hidden]
            return Answer.json(200, {"images": docs})
        if parts == ["images"] and method == "POST":
            doc = {**json.loads(body), "id": str(uuid.uuid4()), "status": "queued"}
            doc.update(owner=PROJECT, size=None, checksum=None, os_hash_value=None)
            self.images[doc["id"]] = doc
            return Answer.json(201, doc)
        if parts == ["info", "import"]:
            return Answer.json(200, {"import-methods": {"value": ["glance-direct"]}})
        if len(parts) < 2 or parts[1] not in self.images:
            return Answer.json(404, {"message": "no such image"})
        doc = self.images[parts[1]]
        if len(parts) == 3 and parts[2] == "file":
            if method == "PUT":
                self.data[doc["id"]] = body
                doc.update(status="active", size=len(body))
                doc.update(checksum=hashlib.md5(body).hexdigest(), os_hash_algo="sha512")
                doc.update(os_hash_value=hashlib.sha512(body).hexdigest())
                return Answer(204)
            return Answer(
                200, self.data.get(doc["id"], b""), {"Content-Type": "application/octet-stream"}
            )
        if method == "DELETE":
            del self.images[doc["id"]]
            return Answer(204)
        if method == "PATCH":
            for op in json.loads(body):
                key = op["path"].lstrip("/")
                if op["op"] == "remove":
                    doc.pop(key, None)
                else:
                    doc[key] = op["value"]
        return Answer.json(200, doc)


class Server:
    """The server: Keystone at ``/v3``, region N's Glance at ``/r/N``."""

    def __init__(self, regions: list[Region] | None = None) -> None:
        self.regions = list(regions or [])
        self.requests: list[Request] = []
        self.bytes_sent = 0
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def keystone(self, method: str, path: str) -> Answer:
        if method == "POST" and path.startswith("/v3/auth/tokens"):
            endpoints = [
                {
                    "id": f"ep{n}",
                    "interface": "public",
                    "region": region.name,
                    "region_id": region.name,
                    "url": f"{self.url}/r/{n}",
                }
                for n, region in enumerate(self.regions)
            ]
            token = {
                "methods": ["password"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2024-01-01T00:00:00.000000Z",
                "user": {
                    "id": "u1",
                    "name": "evil",
                    "domain": {"id": "default", "name": "Default"},
                },
                "project": {
                    "id": PROJECT,
                    "name": PROJECT,
                    "domain": {"id": "default", "name": "Default"},
                },
                "roles": [{"id": "r1", "name": "admin"}],
                "catalog": [
                    {"id": "s1", "type": "image", "name": "glance", "endpoints": endpoints}
                ],
            }
            return Answer.json(201, {"token": token}, **{"X-Subject-Token": TOKEN})
        return Answer.json(404, {"error": {"message": "not here"}})


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return bytes(out)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _any(self) -> None:
            body = self._body()
            server.requests.append(
                Request(self.command, self.path, "X-Auth-Token" in self.headers, server.port)
            )
            answer = self._answer(body)
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            if isinstance(answer.body, bytes):
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body
            try:
                for chunk in chunks:
                    self._send(chunk)
            except OSError:
                pass  # the client hung up: what a bounded reader does
            self.close_connection = True

        def _send(self, data: bytes) -> None:
            self.wfile.write(data)
            server.bytes_sent += len(data)

        def _answer(self, body: bytes) -> Answer:
            if self.path.startswith("/v3"):
                return server.keystone(self.command, self.path)
            parts = self.path.split("/", 3)  # "", "r", N, rest
            if len(parts) < 4 or parts[1] != "r" or not parts[2].isdigit():
                return Answer.json(404, {"message": "no such region"})
            region = server.regions[int(parts[2])]
            path = "/" + parts[3]
            if region.hook is not None:
                answer = region.hook(region, self.command, path, body)
                if answer is not None:
                    return answer
            return region.glance(self.command, path, body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler
