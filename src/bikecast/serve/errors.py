"""Every 4xx/503 of the API as one `ErrorResponse` body: a readable line naming each bad
field (pydantic's, the station checks', FastAPI's), and the handlers that produce it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bikecast.serve.schemas import ErrorResponse

MAX_LISTED_ERRORS = 5
_DESCRIPTIONS = {
    400: "The body cannot be decoded (send UTF-8 JSON).",
    413: "Body over the size limit (BIKECAST_MAX_BODY_BYTES).",
    415: "The body is not declared as application/json.",
    422: "Invalid request; `detail` names each bad field.",
    503: "No verified model is loaded; `detail` says why.",
}


class NotReady(Exception):
    """Raised by the model dependency while no verified model is loaded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that can answer these error codes."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


def error_response(
    status: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(ErrorResponse(detail=detail, errors=errors or []).model_dump(), status)


def _field_path(loc: Sequence[Any]) -> str:
    """("body", "records", 0, "temp_c") → "records[0].temp_c"."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validation_detail(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """One readable line naming each bad field, plus JSON-safe errors (no echoed input)."""
    listed = []
    for err in errors:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            where = (err.get("ctx") or {}).get("error", "")
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            msg, loc = f"not valid JSON ({where}{at})", ("body",)
        listed.append(
            {
                "loc": [p if isinstance(p, int) else str(p) for p in loc],
                "msg": msg,
                "type": str(err.get("type", "value_error")),
            }
        )
    lines = [f"{_field_path(e['loc'])}: {e['msg']}" for e in listed[:MAX_LISTED_ERRORS]]
    if len(listed) > MAX_LISTED_ERRORS:
        lines.append(f"and {len(listed) - MAX_LISTED_ERRORS} more")
    return "; ".join(lines) or "invalid request", listed


def invalid_response(errors: Sequence[dict[str, Any]]) -> JSONResponse:
    """A 422 naming each bad field."""
    return error_response(422, *validation_detail(errors))


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return invalid_response(exc.errors())


async def _not_ready(request: Request, exc: NotReady) -> JSONResponse:
    return error_response(503, f"model not ready: {exc.reason}")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = str(exc.detail)
    if exc.status_code == 400:  # FastAPI could not even decode the body (e.g. not UTF-8)
        detail = f"body: {detail.lower()}; send UTF-8 JSON"
    response = error_response(exc.status_code, detail)
    response.headers.update(exc.headers or {})
    return response


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotReady, _not_ready)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
