"""A keep-alive HTTP/1.1 test server on 127.0.0.1 with scripted routes and a request log."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    declared_length: int | None = None  # a Content-Length larger than the body: a truncated response


@dataclass
class Site:
    routes: dict[str, Route]
    default_delay: float = 0.0
    log: list[str] = field(default_factory=list)
    base_url: str = ""

    def count(self, path: str) -> int:
        return self.log.count(path)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Content-Length is always sent

        def do_GET(self) -> None:
            path = self.path.split("#", 1)[0]
            site.log.append(path)
            route = site.routes.get(path) or Route(b"not found", status=404, content_type="text/plain")
            time.sleep(route.delay or site.default_delay)
            self.send_response(route.status)
            if route.content_type:
                self.send_header("Content-Type", route.content_type)
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(route.declared_length or len(route.body)))
            if route.declared_length:
                self.send_header("Connection", "close")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(route.body)
            if route.declared_length:
                self.close_connection = True

        def handle(self) -> None:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the crawler gave up or was killed
                super().handle()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve(site: Site) -> Iterator[Site]:
    """Serve ``site`` in a background thread; ``site.base_url`` is set while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def html_page(title: str, body: str, charset: str | None = "utf-8", lang: str = "ar") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}" dir="rtl"><head>{meta}<title>{title}</title></head>'
        f"<body><nav><a href='/index.html'>الرئيسية</a></nav>{body}<footer>حقوق النشر محفوظة</footer></body></html>"
    )


Factory = Callable[[str], Route]
