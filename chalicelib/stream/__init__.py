"""From favorites-stream records to favorite counts, exactly once.

Lambda delivers stream batches at least once, and ``ADD`` is not idempotent, so
each chunk of records is written as one ``TransactWriteItems``: a conditional
``Put`` of a marker per stream ``eventID`` plus the summed ``ADD``s. A marker
that already exists means its event was applied before: that event is dropped
and the rest written.

One module per reason to change: ``records`` (what a stream record means),
``lag`` (how far behind the handler is), ``plan`` (chunks that fit one
transaction), ``writer`` (the transaction and its cancellation reasons),
``report`` (the batch's counters, log fields and metrics), ``batch`` (the loop
over a batch) and ``handler`` (the Lambda entry point's body). Parsing and
planning are pure; the writer receives its client and table.
"""
