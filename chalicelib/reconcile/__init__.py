"""Recount favorites from the source of truth, report drift per bucket, repair it safely.

The Favorites table is the truth; FavoriteCounts is derived from its stream.
A run scans both tables in parallel segments, tallies what every count should
be (``ALL``, every ``MONTH``, every ``DAY`` still inside retention) and reports
each bucket whose count differs.

Repair never races the stream. Each drifted bucket is checked again just
before writing: a consistent read of the count, and a consistent recount of
that restaurant's favorites. Only drift seen the same by the scan and by the
re-check is repaired (a difference that moved is a stream change in flight,
left for the next run), and it is written as compare-and-add: ``ADD`` the
difference under a condition on the count just read. When the stream moved
the count in between, the condition fails and the bucket is checked again, so
a concurrent +1 is never overwritten. Items that should not exist are set to
zero, not deleted, like the stream leaves them.

One module per reason to change: ``tally`` (pure: what the counts should be
and how they differ), ``store`` (the AWS calls, given their client and table
names), ``report`` (a run's findings, its log lines and metrics) and
``reconciler`` (the run and its repair policy). The operator's command line is
``ops/reconcile.py``.
"""
