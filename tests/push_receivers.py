"""Local HTTP receivers standing in for the push providers: they record each request and answer as told."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, answer=None, status: int = 200, delay: float = 0.0):
        self.requests: list[dict] = []
        self.answer = answer if answer is not None else {"errcode": 0, "errmsg": "ok"}
        self.status, self.delay = status, delay
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                receiver.arrived.set()
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                answer = receiver.answer(body) if callable(receiver.answer) else receiver.answer
                raw = json.dumps(answer).encode()
                self.send_response(receiver.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json(self, i: int = -1) -> dict:
        return json.loads(self.requests[i]["body"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()
