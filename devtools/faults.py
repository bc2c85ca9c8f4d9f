"""Fault injection for the counts writer: DynamoDB's errors, built the way botocore raises them.

DynamoDB Local never throttles and rarely conflicts, so the tests wrap a real
client in :class:`FaultyClient`, which raises scripted faults before (or after)
delegating a ``TransactWriteItems`` call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


def cancelled(reasons: list[dict[str, str]]) -> ClientError:
    """A ``TransactionCanceledException`` with one reason per action, as botocore parses it."""
    codes = ", ".join(reason.get("Code", "None") for reason in reasons)
    return ClientError(
        {
            "Error": {
                "Code": "TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for "
                f"specific reasons [{codes}]",
            },
            "CancellationReasons": reasons,
        },
        "TransactWriteItems",
    )


def conflict(actions: list[Any]) -> ClientError:
    """Another transaction touched the last item: every other action says ``None``."""
    reasons = [{"Code": "None"} for _ in actions]
    reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    return cancelled(reasons)


def throttled(actions: list[Any]) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate of requests exceeds"}},
        "TransactWriteItems",
    )


def invalid(actions: list[Any]) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": "injected"}}, "TransactWriteItems"
    )


def timed_out(actions: list[Any]) -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="http://dynamodb")


class Crash(Exception):
    """Stands for the Lambda invocation dying (timeout, out of memory) mid-batch."""


Fault = Callable[[list[Any]], BaseException]


class FaultyClient:
    """A DynamoDB client whose ``transact_write_items`` follows a script.

    ``script`` maps a call number (1-based) to a fault. A fault raised *before*
    the call leaves the table untouched; one listed in ``after`` is raised once
    the real call has committed (a lost response, a crash after the write).
    Everything else is the real client.
    """

    def __init__(
        self,
        real: Any,
        before: dict[int, Fault] | None = None,
        after: dict[int, Fault] | None = None,
        every: Fault | None = None,
    ) -> None:
        self._real = real
        self.before = dict(before or {})
        self.after = dict(after or {})
        self.every = every
        self.calls = 0
        self.faults_raised = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        with self._lock:
            self.calls += 1
            call = self.calls
        actions = kwargs["TransactItems"]
        fault = self.before.get(call) or self.every
        if fault is not None:
            self.faults_raised += 1
            raise fault(actions)
        response = self._real.transact_write_items(**kwargs)
        if call in self.after:
            self.faults_raised += 1
            raise self.after[call](actions)
        return response
