"""The recount past one process: true counts computed with SQL over a DynamoDB export.

The in-process scan (``chalicelib.reconcile``) costs about 14.5 µs of CPU per
favorite, so one Lambda fits about 36M favorites; past that the truth comes
from an export of the Favorites table (ExportTableToPointInTime, DynamoDB
JSON) and one SQL query (``sql``), run by Athena on the export's S3 prefix or
by DuckDB on a folder of export files (``duck``). The local stack has no
export, so ``export`` writes the same files from a scan, or synthetic ones for
the bench. The comparison, the re-check and the compare-and-add repair are the
reconciler's own: only the Tally it compares against comes from here.
"""
