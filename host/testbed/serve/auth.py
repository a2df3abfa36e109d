"""The dashboard's optional access token (`testbed serve --token`, or ``$TESTBED_SERVE_TOKEN``).

With a token set, every request must show it: ``Authorization: Bearer TOKEN`` (scripts, a reverse proxy
that adds the header), or a browser opens any page once with ``?token=TOKEN`` - it is answered with a
redirect to the same page without the token (so it stays out of the address bar and history) and a
cookie (HttpOnly, SameSite=Strict) that holds an HMAC of the token, not the token itself. Anything
else is 401 with one line saying how to get in. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from flask import Request, redirect
from werkzeug.wrappers import Response

COOKIE = "testbed_serve"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenAuth:
    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ValueError("an empty token would let anyone in")
        self.token = token
        self.cookie_value = hmac.new(token.encode(), b"testbed serve session", hashlib.sha256).hexdigest()

    def check(self, request: Request) -> Response | None:
        """None when the request may pass; else the answer to send (the redirect that sets the cookie, or 401)."""
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and _same(header[7:].strip(), self.token):
            return None
        if _same(request.cookies.get(COOKIE, ""), self.cookie_value):
            return None
        given = request.args.get("token")
        if given is not None and _same(given, self.token):
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
            target = request.script_root + request.path + (f"?{urlencode(rest)}" if rest else "")
            answer = redirect(target, code=303)
            answer.set_cookie(COOKIE, self.cookie_value, httponly=True, samesite="Strict", secure=request.is_secure,
                              path=request.script_root or "/")
            return answer
        return Response("401 Unauthorized: this dashboard needs its token - open a page once with ?token=TOKEN, "
                        "or send 'Authorization: Bearer TOKEN' (testbed serve --token / $TESTBED_SERVE_TOKEN)\n",
                        status=401, mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="testbed"'})
