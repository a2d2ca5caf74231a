"""API errors, answered as Kubernetes `Status` objects (404 NotFound, 409 AlreadyExists/Conflict, 422).

Its own module so that the store and the per-kind rules (kinds.py, which the store calls) can both
raise them without importing each other.
"""

from __future__ import annotations

from .resources import BY_KIND


class ApiError(Exception):
    """An error answered as a Kubernetes `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(kind: str) -> tuple[str, str]:
    res = BY_KIND[kind]
    return res.plural + (f".{res.group}" if res.group else ""), res.group


def not_found(kind: str, name: str) -> ApiError:
    what, group = _qualified(kind)
    return ApiError(
        404,
        "NotFound",
        f'{what} "{name}" not found',
        {"name": name, "group": group, "kind": BY_KIND[kind].plural},
    )


def already_exists(kind: str, name: str) -> ApiError:
    what, group = _qualified(kind)
    return ApiError(
        409,
        "AlreadyExists",
        f'{what} "{name}" already exists',
        {"name": name, "group": group, "kind": BY_KIND[kind].plural},
    )


def conflict(kind: str, name: str) -> ApiError:
    what, group = _qualified(kind)
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": BY_KIND[kind].plural},
    )


def invalid(kind: str, name: str, field: str, message: str) -> ApiError:
    res = BY_KIND[kind]
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{res.group or "core"} "{name}" is invalid: {field}: {message}',
        {
            "name": name,
            "group": res.group,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        },
    )
