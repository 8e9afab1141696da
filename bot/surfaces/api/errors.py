"""The API's error: an HTTP status, a machine-readable code and a message for people."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Answered as `{"error": {"code", "message", "details"?}}` with `status`.

    Codes: invalid_json, invalid_request, invalid_parameter, invalid_indicators,
    too_many_indicators, invalid_items, invalid_cursor, team_required, rejected,
    misp_not_configured, misp_unavailable, unauthorized, not_found, method_not_allowed,
    payload_too_large, rate_limited, internal_error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(
        400, "invalid_parameter", f"{name}: {message}", details=[{"parameter": name, "reason": message}]
    )
