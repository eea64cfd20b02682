"""PlatformIO's package registry on loopback, as far as `pio pkg install -g -p NAME@VER` uses it.

The registry is the true edge of a platform install (this machine cannot reach
it), so the real ``pio`` is pointed at this one the way a lab behind a TLS proxy
points it at the real one: ``HTTPS_PROXY`` names this server, which answers
``CONNECT`` for PlatformIO's registry hosts with a certificate from its own CA
(``REQUESTS_CA_BUNDLE``), and speaks the registry's API behind it (PlatformIO
Core 6, ``platformio/registry/`` and ``package/manager/_registry.py``):

- ``GET /v3/search?query=type:"platform" name:"NAME"`` lists the package;
- ``GET /v3/packages/platformio/platform/NAME`` describes it (404 for others);
- ``HEAD`` of a file's ``download_url`` on ``dl.registry...`` redirects (302) to
  a mirror with ``X-PIO-Mirror`` and ``X-PIO-Content-SHA256``, as the real one does;
- the mirror (this server, plain HTTP, reached directly: ``NO_PROXY``) serves
  the archive, a platform with only its ``platform.json``.

Plain-HTTP proxy requests (pio's "is the internet on" check) get an empty 200.
``mode`` makes it misbehave: ``hang`` accepts and never answers, ``error``
answers every API request with 503.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

REGISTRY_HOSTS = ("api.registry.platformio.org", "api.registry.nm1.platformio.org",
                  "dl.registry.platformio.org", "dl.registry.nm1.platformio.org")
Mode = Literal["answer", "hang", "error"]


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for the registry hosts signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (folder / n for n in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    san = folder / "san.ext"
    san.write_text("subjectAltName=" + ",".join(f"DNS:{h}" for h in REGISTRY_HOSTS) + "\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-days", "2", "-subj", "/CN=harness test registry CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", f"/CN={REGISTRY_HOSTS[0]}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(san))
    return ca, cert, key


def platform_archive(name: str, version: str) -> bytes:
    """A .tar.gz holding a platform with nothing but its manifest."""
    manifest = json.dumps({"name": name, "title": f"{name} (test registry)", "version": version,
                           "description": "served by tests/instruments/pio_registry.py",
                           "packages": {}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("platform.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return buf.getvalue()


class PioRegistry:
    """The registry on 127.0.0.1 (``url``), also a proxy for the real host names (``proxy``)."""

    def __init__(self, platforms: dict[str, str], tls: tuple[Path, Path, Path] | None = None,
                 mode: Mode = "answer") -> None:
        self.mode = mode
        self.requests: list[str] = []
        self.archives = {name: platform_archive(name, version)
                         for name, version in platforms.items()}
        self.versions = platforms
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(tls[1]), str(tls[2]))
        registry = self

        class Handler(_Handler):
            server_registry = registry

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PioRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def package(self, name: str) -> dict:
        version = self.versions[name]
        archive = self.archives[name]
        files = [{"system": "*", "name": f"{name}-{version}.tar.gz",
                  "download_url": f"https://dl.registry.platformio.org/download/platformio/"
                                  f"platform/{name}/{version}/{name}-{version}.tar.gz",
                  "checksum": {"sha256": hashlib.sha256(archive).hexdigest()}}]
        version_entry = {"name": version, "released_at": "2026-01-01T00:00:00Z", "files": files}
        return {"id": 1000 + len(name), "name": name, "type": "platform",
                "owner": {"id": 1, "type": "org", "username": "platformio"},
                "version": version_entry, "versions": [version_entry]}


class _Handler(BaseHTTPRequestHandler):
    server_registry: PioRegistry
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet: the test reads .requests
        pass

    @property
    def _registry(self) -> PioRegistry:
        return self.server_registry

    def do_CONNECT(self) -> None:
        host = self.path.split(":")[0]
        if host not in REGISTRY_HOSTS or self._registry._tls is None:
            self._send(403, b"", "text/plain")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.connection = self._registry._tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = self.connection.makefile("wb", 0)
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def do_HEAD(self) -> None:
        self._api(head=True)

    def do_GET(self) -> None:
        self._api(head=False)

    def _api(self, head: bool) -> None:
        reg = self._registry
        parts = urlsplit(self.path)
        if parts.scheme == "http":  # a plain proxy request: pio checks the internet is on
            self._send(200, b"", "text/plain")
            return
        reg.requests.append(f"{self.command} {self.path}")
        if reg.mode == "hang":
            time.sleep(3600)
        if reg.mode == "error":
            self._send(503, b'{"message": "maintenance"}')
            return
        path = parts.path
        if path == "/v3/search":
            query = parse_qs(parts.query).get("query", [""])[0]
            items = [reg.package(n) for n in reg.versions if f'name:"{n}"' in query]
            self._send(200, json.dumps({"items": items, "page": 1, "limit": 10,
                                        "total": len(items)}).encode())
        elif path.startswith("/v3/packages/platformio/platform/"):
            name = path.rsplit("/", 1)[-1]
            if name in reg.versions:
                self._send(200, json.dumps(reg.package(name)).encode())
            else:
                self._send(404, b'{"message": "Not Found"}')
        elif path.startswith("/download/") and head:
            name = path.split("/")[4]
            self.send_response(302)
            self.send_header("Location", f"{reg.url}/file/{name}.tar.gz")
            self.send_header("X-PIO-Mirror", "harness-test-mirror")
            self.send_header("X-PIO-Content-SHA256",
                             hashlib.sha256(reg.archives[name]).hexdigest())
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/file/") and path.removeprefix("/file/").removesuffix(".tar.gz") \
                in reg.archives:
            self._send(200, reg.archives[path[6:-7]], "application/gzip", head)
        else:
            self._send(404, b'{"message": "Not Found"}')

    def _send(self, status: int, body: bytes, kind: str = "application/json",
              head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def closed_port_url() -> str:
    """An http:// URL on loopback where nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
