"""The emulator's HTTP surface: OpenAI's routes under /v1 and the control API under /_emulator.

Routes only translate between HTTP and the Emulator service. One outer ASGI layer does what
concerns every /v1 request alike: the request log, the Date header from the emulated clock,
armed faults, and the API key check.
"""

import asyncio
import hmac
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from ftctl.emulator.errors import ApiError, bad_request
from ftctl.emulator.faults import DROP, Chaos, FaultBook, FaultRule
from ftctl.emulator.service import Emulator, Page

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_LOG_SIZE = 100_000
DROPPED = 0  # logged status of a request whose connection was dropped
CLIENT_GONE = 499  # logged status of a request whose client left before the answer

_FAULT_ERRORS = {
    408: ("timeout", None, "The request timed out."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def create_app(
    emulator: Emulator, api_key: str | None = None, chaos: Chaos | None = None
) -> "EmulatorFront":
    faults = FaultBook(chaos)
    request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
    api = _api_routes(emulator)
    control = _control_routes(emulator, faults, request_log)
    app = Starlette(
        routes=[Mount("/v1", routes=api), Mount("/_emulator", routes=control)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected_error,
        },
    )
    return EmulatorFront(app, emulator, faults, request_log, api_key)


class EmulatorFront:
    """Wraps the routes with the request log, the emulated Date header, faults and auth."""

    def __init__(
        self,
        app: ASGIApp,
        emulator: Emulator,
        faults: FaultBook,
        request_log: deque[dict[str, Any]],
        api_key: str | None,
    ) -> None:
        self.app = app
        self.emulator = emulator
        self.faults = faults
        self.request_log = request_log
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.emulator.settle()
        dated = _with_date(send, self.emulator)
        if not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, dated)
            return
        answered = {"status": DROPPED}

        async def recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await dated(message)

        try:
            unanswered = await self._serve(scope, receive, recorded, raw_send=send)
            if unanswered is not None:
                answered["status"] = unanswered
        finally:
            self.request_log.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope["query_string"].decode("latin-1"),
                    "status": answered["status"],
                    "retry_count": _retry_count(scope),
                }
            )

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, raw_send: Send
    ) -> int | None:
        """Answers one /v1 request, through a fault if one is armed for it. Returns the status
        to log when nothing was answered: DROPPED, or CLIENT_GONE."""
        rule = self.faults.take(scope["method"], scope["path"])
        if rule is None:
            await self._authorized(scope, receive, send)
            return None
        if rule.after_commit:
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self._authorized(scope, receive, hold)
            with self.faults.holding(scope["method"], scope["path"]) as released:
                if not await _client_stays(receive, rule.delay_ms, released):
                    return CLIENT_GONE
            if rule.status is None:
                for message in held:
                    await send(message)
                return None
        else:
            # The delay comes first: a client that leaves during it leaves nothing behind.
            body = await _read_body(receive)
            if body is None or not await _client_stays(receive, rule.delay_ms):
                return CLIENT_GONE
            if rule.status is None:
                await self._authorized(scope, _replay(body, receive), send)
                return None
        if rule.status == DROP:
            await _drop_connection(raw_send)
            return DROPPED
        await _injected_error(rule, send)
        return None

    async def _authorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._auth_problem(scope)
        if problem is not None:
            await _drain(receive)
            await _send_json(send, problem.status, problem.body())
            return
        await self.app(scope, receive, send)

    def _auth_problem(self, scope: Scope) -> ApiError | None:
        header = _header(scope, b"authorization")
        if header is None:
            return ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        scheme, _, token = header.partition(" ")
        wrong = scheme.lower() != "bearer" or not token.strip()
        if not wrong and self.api_key is not None:
            wrong = not hmac.compare_digest(token.strip().encode(), self.api_key.encode())
        if wrong:
            # Deliberately names no part of the key: the emulator never echoes a secret.
            return ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        return None


def _api_routes(emulator: Emulator) -> list[Route]:
    async def upload_file(request: Request) -> Response:
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise bad_request("Missing required parameter: 'file'.", param="file")
            purpose = form.get("purpose")
            if not isinstance(purpose, str):
                raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
            expires_after = {
                key[len("expires_after[") : -1]: str(value)
                for key, value in form.multi_items()
                if key.startswith("expires_after[") and key.endswith("]")
            }
            content = await upload.read()
            body = emulator.upload_file(upload.filename or "", content, purpose, expires_after)
        return JSONResponse(body)

    async def list_files(request: Request) -> Response:
        query = request.query_params
        page = _page(request, default_limit=10_000)
        return JSONResponse(
            emulator.list_files(query.get("purpose"), query.get("order", "desc"), page)
        )

    async def file(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if request.method == "DELETE":
            return JSONResponse(emulator.delete_file(file_id))
        return JSONResponse(emulator.retrieve_file(file_id))

    async def file_content(request: Request) -> Response:
        content = emulator.file_content(request.path_params["file_id"])
        return Response(content, media_type="application/octet-stream")

    async def create_job(request: Request) -> Response:
        return JSONResponse(emulator.create_job(await _json_body(request)))

    async def list_jobs(request: Request) -> Response:
        pairs, without = _metadata_filter(request)
        return JSONResponse(emulator.list_jobs(_page(request, 20), pairs, without))

    async def retrieve_job(request: Request) -> Response:
        return JSONResponse(emulator.retrieve_job(request.path_params["job_id"]))

    def job_action(action: Callable[[str], dict[str, Any]]) -> Callable[..., Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return JSONResponse(action(request.path_params["job_id"]))

        return endpoint

    async def events(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        return JSONResponse(emulator.list_events(job_id, _page(request, 20)))

    async def checkpoints(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        return JSONResponse(emulator.list_checkpoints(job_id, _page(request, 10)))

    async def delete_model(request: Request) -> Response:
        return JSONResponse(emulator.delete_model(request.path_params["model"]))

    jobs = "/fine_tuning/jobs"
    return [
        Route("/files", upload_file, methods=["POST"]),
        Route("/files", list_files, methods=["GET"]),
        Route("/files/{file_id}", file, methods=["GET", "DELETE"]),
        Route("/files/{file_id}/content", file_content, methods=["GET"]),
        Route(jobs, create_job, methods=["POST"]),
        Route(jobs, list_jobs, methods=["GET"]),
        Route(jobs + "/{job_id}", retrieve_job, methods=["GET"]),
        Route(jobs + "/{job_id}/cancel", job_action(emulator.cancel_job), methods=["POST"]),
        Route(jobs + "/{job_id}/pause", job_action(emulator.pause_job), methods=["POST"]),
        Route(jobs + "/{job_id}/resume", job_action(emulator.resume_job), methods=["POST"]),
        Route(jobs + "/{job_id}/events", events, methods=["GET"]),
        Route(jobs + "/{job_id}/checkpoints", checkpoints, methods=["GET"]),
        Route("/models/{model}", delete_model, methods=["DELETE"]),
    ]


def _control_routes(
    emulator: Emulator, faults: FaultBook, request_log: deque[dict[str, Any]]
) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": emulator.now()})

    async def clock(request: Request) -> Response:
        return JSONResponse({"now": emulator.now()})

    async def advance(request: Request) -> Response:
        body = await _json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise bad_request('Send {"seconds": N}.', param="seconds")
        return JSONResponse({"now": emulator.advance_clock(seconds)})

    async def fault_rules(request: Request) -> Response:
        if request.method == "POST":
            rule = FaultRule.from_json(await _json_body(request))
            faults.arm(rule)
            return JSONResponse(rule.to_json())
        if request.method == "DELETE":
            faults.clear()
        return JSONResponse({"data": [rule.to_json() for rule in faults.armed()]})

    async def held(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"released": faults.release()})
        try:
            wait = _finite_float(request.query_params.get("wait", "0"))
            count = int(request.query_params.get("count", "1"))
        except ValueError:
            raise bad_request("wait and count must be numbers.", param="wait") from None
        found = await faults.held(min(max(wait, 0.0), 60.0), max(count, 1))
        return JSONResponse({"data": found})

    async def chaos(request: Request) -> Response:
        if request.method == "POST":
            faults.start_chaos(Chaos.from_json(await _json_body(request)))
        elif request.method == "DELETE":
            faults.stop_chaos()
        return JSONResponse(faults.chaos_report())

    async def force_status(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise bad_request('Send {"status": ..., "error": {...}}.', param="status")
        job_id = request.path_params["job_id"]
        return JSONResponse(emulator.force_status(job_id, body.get("status"), body.get("error")))

    async def logged_requests(request: Request) -> Response:
        if request.method == "DELETE":
            request_log.clear()
        return JSONResponse({"data": list(request_log)})

    async def reset(request: Request) -> Response:
        emulator.reset()
        faults.clear()
        faults.stop_chaos()
        request_log.clear()
        return JSONResponse({"now": emulator.now()})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/clock/advance", advance, methods=["POST"]),
        Route("/faults", fault_rules, methods=["GET", "POST", "DELETE"]),
        Route("/chaos", chaos, methods=["GET", "POST", "DELETE"]),
        Route("/held", held, methods=["GET", "DELETE"]),
        Route("/jobs/{job_id}/status", force_status, methods=["POST"]),
        Route("/requests", logged_requests, methods=["GET", "DELETE"]),
        Route("/reset", reset, methods=["POST"]),
    ]


def _page(request: Request, default_limit: int) -> Page:
    raw = request.query_params.get("limit")
    if raw is None:
        limit = default_limit
    else:
        try:
            limit = int(raw)
        except ValueError:
            raise bad_request(f"limit must be an integer, not {raw!r}.", param="limit") from None
    return Page(after=request.query_params.get("after"), limit=limit)


def _metadata_filter(request: Request) -> tuple[list[tuple[str, str]], bool]:
    """`metadata[k]=v` pairs (all must match) and whether `metadata=null` was asked for."""
    pairs: list[tuple[str, str]] = []
    without = False
    for key, value in request.query_params.multi_items():
        if key == "metadata":
            if value != "null":
                raise bad_request(
                    "metadata takes metadata[key]=value filters or the literal null.",
                    param="metadata",
                )
            without = True
        elif key.startswith("metadata[") and key.endswith("]"):
            pairs.append((key[len("metadata[") : -1], value))
    return pairs, without


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null", parse_constant=_non_finite, parse_float=_finite_float)
    except ValueError:
        raise bad_request(
            "We could not parse the JSON body of your request. Send valid JSON."
        ) from None


def _non_finite(name: str) -> float:
    # Python's json takes NaN and Infinity; JSON does not, and neither could the answers.
    raise bad_request(f"{name} is not valid JSON: numbers must be finite.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise bad_request(f"{text} is too large: numbers must be finite.")
    return value


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        error = ApiError(404, f"Invalid URL ({request.method} {request.url.path})")
    else:  # e.g. a malformed multipart body
        error = ApiError(exc.status_code, str(exc.detail))
    return JSONResponse(error.body(), status_code=error.status)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client gave up (a delay fault outlasted its timeout): nothing was carried out, and
    # nobody is left to read an answer.
    return Response(status_code=499)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Answers in OpenAI's shape; Starlette then re-raises, and uvicorn logs the traceback.
    error = ApiError(
        500, "The server had an error while processing your request.", type="server_error"
    )
    return JSONResponse(error.body(), status_code=500)


async def _injected_error(rule: FaultRule, send: Send) -> None:
    kind, code, message = _FAULT_ERRORS.get(
        rule.status or 500, ("server_error", None, f"Injected fault: HTTP {rule.status}.")
    )
    headers = {}
    if rule.retry_after is not None:
        headers["retry-after"] = f"{rule.retry_after:g}"
    error = ApiError(rule.status or 500, message, code=code, type=kind)
    await _send_json(send, error.status, error.body(), headers)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    response = JSONResponse(body, status_code=status, headers=headers)
    await response({"type": "http"}, _empty_body, send)


async def _drop_connection(send: Send) -> None:
    """Closes the socket without an answer. ASGI has no message for this, so reach the
    transport through uvicorn's request cycle, which owns the `send` it hands to the app."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: not served by uvicorn")
    transport.abort()
    # Let uvicorn see the connection lost before the app returns, or it logs an error.
    await asyncio.sleep(0)


def _with_date(send: Send, emulator: Emulator) -> Send:
    """Stamps each answer with the emulated clock as it is when the answer starts."""

    async def dated(message: Message) -> None:
        if message["type"] == "http.response.start":
            date = formatdate(emulator.stamp(), usegmt=True).encode()
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
            message = {**message, "headers": [*headers, (b"date", date)]}
        await send(message)

    return dated


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client hung up first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app a body already read, then listens to the client again."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _client_stays(
    receive: Receive, delay_ms: int, released: asyncio.Event | None = None
) -> bool:
    """Waits out a fault's delay (or until `released`); False if the client hung up meanwhile.
    Call it only once the body has been read: from then on, the only thing receive() can
    bring is a disconnect."""
    if delay_ms <= 0:
        return True
    listener = asyncio.ensure_future(receive())
    waiting: set[asyncio.Future[Any]] = {listener}
    if released is not None:
        waiting.add(asyncio.ensure_future(released.wait()))
    done, pending = await asyncio.wait(
        waiting, timeout=delay_ms / 1000, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    if listener in done:
        return bool(listener.result()["type"] != "http.disconnect")
    return True


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _retry_count(scope: Scope) -> int | None:
    value = _header(scope, b"x-stainless-retry-count")
    return int(value) if value is not None and value.isdigit() else None
