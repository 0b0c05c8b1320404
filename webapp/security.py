"""Security headers on every answer of the store's web server, set once (on_response_prepare).

* The Mini App page gets a Content-Security-Policy: scripts only from here, from telegram.org
  (Telegram's WebApp script) and the page's own inline script carrying this response's nonce;
  no plugins, no <base>, forms only to here; `frame-ancestors` lets Telegram's web clients
  (web.telegram.org/k and /a, both on https://web.telegram.org) frame it, and nobody else.
  Styles allow 'unsafe-inline': Telegram's WebApp script injects its own <style> elements.
* Every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and a `Server` header
  without versions (aiohttp would announce "Python/3.11 aiohttp/3.x").
* /api/ answers (customer data) are never stored by a cache: `Cache-Control: no-store`.
"""

from __future__ import annotations

import secrets

from aiohttp import web

SERVER_NAME = "amazing-store"
CSP_NONCE = web.RequestKey("csp_nonce", str)
# Telegram Web K and Web A both run at https://web.telegram.org (/k/, /a/) and frame Mini Apps from there.
FRAME_ANCESTORS = "'self' https://web.telegram.org https://*.telegram.org"


# Other HTML (aiohttp's error pages, local mode's payment sandbox pages): no script at all, styles
# (inline too) and forms only from here.
OTHER_HTML_CSP = ("default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                  f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {FRAME_ANCESTORS}")


def csp_nonce(request: web.Request) -> str:
    """This response's nonce for inline scripts (made on first use)."""
    nonce = request.get(CSP_NONCE)
    if nonce is None:
        nonce = request[CSP_NONCE] = secrets.token_urlsafe(16)
    return nonce


def page_csp(nonce: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' https://telegram.org 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https: http:",
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {FRAME_ANCESTORS}",
    ])


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Server"] = SERVER_NAME
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.path.startswith("/api/"):
        headers["Cache-Control"] = "no-store"
    if response.content_type == "text/html":
        nonce = request.get(CSP_NONCE)
        headers["Content-Security-Policy"] = page_csp(nonce) if nonce is not None else OTHER_HTML_CSP
