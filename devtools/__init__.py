"""The toolkit the test tiers, the benchmarks and the local tools share.

Canned stream events and items as the service leaves them. Never deployed:
``chalicelib`` imports nothing from here, and this package imports nothing
from ``tests``, ``bench`` or ``local`` (import-linter checks both).
"""
