"""The toolkit the test tiers, the benchmarks and the local tools share.

``events`` (stream records as Lambda delivers them), ``items`` (count items and
the test tables' names), ``calls`` (the one DynamoDB call counter), ``fakes``
(in-memory transactions, a clock that moves when slept), ``faults``
(DynamoDB's errors, injected) and ``xray_daemon`` (a stand-in for the X-Ray
daemon that reads back what either tracing backend sends). Never deployed:
``chalicelib`` imports nothing from here, and this package imports nothing
from ``tests``, ``bench``, ``local`` or ``ops`` (import-linter checks both).
"""
