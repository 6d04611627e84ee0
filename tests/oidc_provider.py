"""A real OpenID provider for the tests, built from Authlib's server components (Flask), on loopback.

Discovery (`/.well-known/openid-configuration`), the JWKS (`/jwks`), the authorization endpoint (`/authorize`,
which signs in `provider.user` without a form) and the token endpoint (`/token`: the code grant with PKCE
required, the ID token signed RS256 by the current key). Knobs for the bad cases: `audience` (issue the ID
token for another client), `expires_in` (negative: already expired), `rotate()` (a new signing key; the
JWKS then holds only the new one).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri.endswith("/auth/oidc/callback")

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class Provider:
    def __init__(self, client_id: str = "leadflow", client_secret: str = "s3cret"):
        self.client = Client(client_id, client_secret)
        self.user: dict[str, Any] = {"sub": "nobody"}
        self.audience: str | None = None
        self.expires_in = 300
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"}, private=True)
        self.hits: Counter[str] = Counter()
        self.codes: dict[str, Code] = {}
        self.app = self._build()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def rotate(self) -> None:
        assert self.key.kid is not None  # every key here is made with one
        number = int(self.key.kid.split("-")[1]) + 1
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"key-{number}"}, private=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _build(self) -> Flask:
        provider = self
        app = Flask("oidc-provider")

        class IdToken(OpenIDCode):
            def resolve_client_private_key(self, client):
                return provider.key

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [provider.audience or client.get_client_id()],
                        "exp": int(time.time()) + provider.expires_in}

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": provider.key.kid}

            def exists_nonce(self, nonce, request):
                return False

            def generate_user_info(self, user, scope):
                return UserInfo(**user)

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code, request):
                data = request.payload.data
                provider.codes[code] = Code(code, request.client.get_client_id(), request.payload.redirect_uri,
                                            request.scope, request.user, data.get("nonce"), data.get("code_challenge"),
                                            data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        server = AuthorizationServer(app,
                                     query_client=lambda cid: provider.client if cid == provider.client.client_id
                                     else None,
                                     save_token=lambda token, request: None)
        server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery():
            provider.hits["discovery"] += 1
            return jsonify(issuer=provider.issuer, authorization_endpoint=f"{provider.issuer}/authorize",
                           token_endpoint=f"{provider.issuer}/token", jwks_uri=f"{provider.issuer}/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"], code_challenge_methods_supported=["S256"],
                           token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"])

        @app.get("/jwks")
        def jwks():
            provider.hits["jwks"] += 1
            return jsonify(keys=[provider.key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}])

        @app.get("/authorize")
        def authorize():
            provider.hits["authorize"] += 1
            return server.create_authorization_response(grant_user=dict(provider.user))

        @app.post("/token")
        def token():
            provider.hits["token"] += 1
            return server.create_token_response()

        return app
