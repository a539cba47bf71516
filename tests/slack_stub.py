"""A local HTTP server standing in for Slack's incoming webhook (tests only)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSlack:
    """An incoming-webhook stand-in: records each POST; answers from a script, then 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict[str, str], str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "json": json.loads(body or b"{}")})
                status, headers, text = fake.script.pop(0) if fake.script else (200, {}, "ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/not-a-real-secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts_about(self, rule: str) -> list[str]:
        return [json.dumps(r["json"]) for r in self.requests if rule in json.dumps(r["json"])]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
