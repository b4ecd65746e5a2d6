"""`bcx export --format parquet`: the optional extra `bcx[parquet]` (pyarrow), one row group per ~64k rows.

Prices, sizes and volumes stay strings (Parquet's decimal type needs one scale per column, and exchanges send
varying decimals): exact, as in the CSV. Times, trade ids and counts are int64.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from bcx.export import fields

ROW_GROUP = 65_536
_INTEGERS = {"time", "trade_id", "count"}


def available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write(what: str, batches: Iterable[list[tuple]], out: BinaryIO, on_rows=lambda count: None) -> int:
    """Write the batches' rows to `out` as Parquet; returns how many rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = fields(what)
    schema = pa.schema([(name, pa.int64() if name in _INTEGERS else pa.string()) for name in names])
    total, pending = 0, []
    with pq.ParquetWriter(out, schema) as writer:
        for rows in batches:
            pending.extend(rows)
            on_rows(len(rows))
            if len(pending) >= ROW_GROUP:
                total += _write_group(writer, schema, names, pending)
                pending = []
        total += _write_group(writer, schema, names, pending)
    return total


def _write_group(writer, schema, names: tuple[str, ...], rows: list[tuple]) -> int:
    import pyarrow as pa

    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    writer.write_table(pa.table({name: columns[i] for i, name in enumerate(names)}, schema=schema))
    return len(rows)
