"""Recount favorites from the source of truth, report drift per bucket, repair it safely.

The Favorites table is the truth; FavoriteCounts is derived from its stream.
A run scans both tables in parallel segments, tallies what every count should
be (``ALL``, every ``MONTH``, every ``DAY`` still inside retention; older days
are not even kept in memory) and finds each bucket whose count differs.

The two scans are not one snapshot, so a difference is only a candidate.
Each is checked again, report-only runs included: a consistent read of the
count, and a consistent recount of that restaurant's favorites. Only a
difference the re-check sees the same is drift (the report, its log lines and
the ``drift`` metric the alarm reads); one that moved is a stream change in
flight, reported apart (``in_flight``, no alarm) and left for the next run.

Repair never races the stream. Confirmed drift is written as compare-and-add:
``ADD`` the difference under a condition on the count just read. When the stream moved
the count in between, the condition fails and the bucket is checked again, so
a concurrent +1 is never overwritten. Items that should not exist are set to
zero, not deleted, like the stream leaves them.

One module per reason to change: ``tally`` (pure: what the counts should be
and how they differ), ``store`` (the AWS calls, given their client and table
names), ``report`` (a run's findings, its log lines and metrics) and
``reconciler`` (the run and its repair policy). The operator's command line is
``ops/reconcile.py``.
"""
