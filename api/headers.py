"""Security headers on every response (pages, API, static files).

- Content-Security-Policy: scripts only from this origin, no inline script, no eval; `frame-ancestors
  'none'` (no other page may frame ours). The interactive docs (/docs, /redoc) are FastAPI's pages, which
  load Swagger UI or ReDoc from a CDN and start it with an inline script: their policy allows that CDN
  and exactly that script, by its hash, nothing else.
- Referrer-Policy: same-origin; X-Content-Type-Options: nosniff; X-Frame-Options: DENY (older browsers).
- Strict-Transport-Security when the request came over https (behind a proxy: uvicorn --proxy-headers).
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CDN = "https://cdn.jsdelivr.net"
HSTS = "max-age=31536000; includeSubDomains"


def docs_policy(page: str) -> str:
    """The policy of a docs page: the CDN, and its inline scripts by their hashes."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in re.findall(r"<script>(.*?)</script>", page, re.S))
    return (f"default-src 'self'; script-src 'self' {CDN} {hashes}; style-src 'self' {CDN} 'unsafe-inline'; "
            f"img-src 'self' data: {CDN} https://fastapi.tiangolo.com; connect-src 'self'; worker-src blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, docs: dict[str, str] | None = None):
        self.app, self.docs = app, docs or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = self.docs.get(scope["path"], CSP).encode()
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                headers += [(b"content-security-policy", policy), (b"referrer-policy", b"same-origin"),
                            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
                if https:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
