"""Errors the service reports to its callers, each with a GraphQL error code.

graphql-core copies an original error's ``extensions`` onto the GraphQL error,
so raising one of these from a resolver is all it takes to answer with a code.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error whose message is safe and useful to show the caller."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code}


class InvalidInput(ServiceError):
    code = "BAD_USER_INPUT"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"
