"""Request bodies are bounded on every route, while they are read.

A body declared larger than the route's limit is answered 413 at once: before
the route runs, so before its body is parsed or its token checked. A body of
unknown length (chunked) is counted as the route reads it and refused as soon
as it passes the limit, so at most one limit's worth is ever held in memory
(uvicorn stops reading a body nobody reads).

Not FastAPI's `max_body_size`: it checks a declared length only when the route
reads the body or answers (a route without a body would verify the token and
call Stripe first), and answers outside the app's error shape. The webhook
route reads and bounds its own body (`[api] max_webhook_bytes`, one code path
for the busiest route): this middleware passes it through untouched.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised while reading: the app's HTTPException handler answers 413 in its error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"Request bodies are limited to {limit} bytes on this route ([api] max_body_bytes).",
        )


class BodyLimitMiddleware:
    """413 for bodies over `limit` bytes on every route but `own_limit_paths`."""

    def __init__(
        self, app: ASGIApp, /, limit: int, own_limit_paths: frozenset[str], **_: object
    ) -> None:
        self.app = app
        self.limit = limit
        self.own_limit_paths = own_limit_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.own_limit_paths:
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer_413(limit, scope, receive, send)
            return
        received = 0
        response_started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, watching_send)
        except BodyTooLarge:
            # read outside a route's own error handling (the app re-raised it)
            if response_started:
                raise
            await _answer_413(limit, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer_413(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    # the app's error shape ({"error": {code, message, detail}}); the unread rest of the
    # body is discarded by the server
    message = str(BodyTooLarge(limit).detail)
    detail = {"limit_bytes": limit}
    body = {"error": {"code": "payload_too_large", "message": message, "detail": detail}}
    await JSONResponse(body, status_code=413)(scope, receive, send)
