"""The recount query on DuckDB, over a folder of export files (one machine, tests, bench)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from chalicelib.reconcile.tally import Tally
from ops.recount.sql import Dialect, recount_query, tally_from_rows

# DynamoDB JSON as the export writes it: only the two attributes the recount reads.
# Declared, not sniffed, so a file without one of them still reads as NULLs.
ITEM_COLUMNS = "{'Item': 'STRUCT(restaurant_id STRUCT(S VARCHAR), created_at STRUCT(S VARCHAR))'}"


def data_files(folder: Path) -> str:
    """The glob of an export's data files under ``folder``: an export's own folder,
    or any folder above (``AWSDynamoDB/<export-id>/data/*.json.gz``; ``*.gz``, as
    moto's export names them too)."""
    return str(folder / "**" / "data" / "*.gz")


def recount(folder: Path, *, retention_days: int, now: float | None = None) -> Tally:
    """What every count should be, from the export files under ``folder``."""
    source = (
        f"read_json('{data_files(folder)}', format = 'newline_delimited', "
        f"columns = {ITEM_COLUMNS}, compression = 'gzip')"
    )
    query = recount_query(
        source,
        dialect=Dialect.DUCKDB,
        now=time.time() if now is None else now,
        retention_days=retention_days,
    )
    with duckdb.connect() as connection:
        # A bar on the terminal would garble the operator's progress and the bench's output.
        connection.execute("SET enable_progress_bar = false")
        rows = connection.execute(query).fetchall()
    return tally_from_rows(rows)
