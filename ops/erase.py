"""Erase one user's favorites: the operator's path to the erasure the queue's function runs.

    .venv/bin/python -m ops.erase USER_ID                    # the running local stack
    .venv/bin/python -m ops.erase --data-dir /tmp/stack USER_ID
    .venv/bin/python -m ops.erase --stage dev USER_ID        # a deployed stage, AWS credentials
    python -m ops.erase --environment USER_ID                # the tables the environment names

The same code as the ``erase_favorites`` function (``chalicelib.erasure``):
deletes through the ``by_user`` index in pages, one delete per favorite, so
the stream decrements the counts; ends after two empty passes over the index
a settle interval apart. Prints the receipt (user id hashed, favorites
deleted, finished at) as one JSON line on stdout. Running it again for the
same user finds nothing and deletes nothing. Exit status 0 once erased, 2 for
a user id that breaks the id rule.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.erasure import erase, log_receipt
from chalicelib.ids import is_valid_id
from chalicelib.services import Services
from chalicelib.settings import from_environment
from ops.target import add_target_arguments, target_environment

BAD_ID = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("user_id", help="the user whose favorites to erase (the token's sub)")
    args = parser.parse_args(argv)
    # The target's variables on top of this process's (region, credentials).
    return run(args.user_id, Services(from_environment(target_environment(args))))


def run(user_id: str, services: Services | None = None) -> int:
    """Erase ``user_id``'s favorites from the tables ``services`` names; without it,
    this process's environment (``chalicelib.settings``)."""
    services = services or Services(from_environment())
    if not is_valid_id(user_id):
        print("error: the user id breaks the id rule; nothing erased", file=sys.stderr)
        return BAD_ID
    receipt = erase(
        services.eraser(),
        user_id,
        settle_seconds=services.settings.erasure_settle_seconds,
        wall=services.clock,
    )
    # No metrics: the erased metric counts the queue's function; the operator
    # keeps this line with the request it answers.
    fields = log_receipt(receipt, None, services.clock(), source="ops")
    print(json.dumps(fields))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
