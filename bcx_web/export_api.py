"""`GET /api/v1.0/export/<series>?what=&start=&end=&format=csv|jsonl`: a stored range streamed out (bcx.export).

The answer is a generator: rows are read a round of chunks at a time and sent as they are encoded, never built
whole in memory. A range holding more than `[web] max_read` rows is refused with 400 before anything is streamed
(the rows are counted first, one ZCOUNT per chunk): the message says how many and the maximum, so a client pages
by time instead of receiving a silently cut file. A range beyond what is stored exports what exists; the headers
say what is stored (`X-BCX-Stored-From`/`-To`, absent when nothing is) and how many rows follow (`X-BCX-Rows`).
"""

from __future__ import annotations

from flask import Blueprint, Response, stream_with_context

from bcx import export
from bcx_web import declared, params
from bcx_web.api import get_config, get_store

bp = Blueprint("export", __name__, url_prefix="/api/v1.0")


@bp.get("/export/<product>")
def export_range(product: str) -> Response:
    config = get_config()
    series, what, fmt = declared.PRODUCT.read(config), declared.WHAT.read(config), declared.FORMAT.read(config)
    start, end = declared.EXPORT_START.read(config), declared.EXPORT_END.read(config)
    exporter = export.Exporter(get_store().chunks, config.redis.prefix)
    extent = exporter.extent(series, what)
    start = start if start is not None else extent[0] if extent else 0
    end = end if end is not None else extent[1] if extent else start
    if start > end:
        raise params.ParamError(f"start ({start}) is after end ({end})")
    rows = exporter.count(series, what, start, end)
    if rows > config.web.max_read:
        raise params.ParamError(
            f"{series} holds {rows} {what} rows in {start}..{end}, more than the maximum of {config.web.max_read} "
            "a request ([web] max_read): ask for a shorter range, or use `bcx export`"
        )

    def body():
        yield export.header(what, fmt)
        for batch in exporter.batches(series, what, start, end):
            yield export.encode(what, fmt, batch)

    response = Response(stream_with_context(body()), mimetype=export.MEDIA_TYPES[fmt])
    name = export.filename(series, what, start, end, fmt)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-BCX-Rows"] = str(rows)
    if extent:
        response.headers["X-BCX-Stored-From"], response.headers["X-BCX-Stored-To"] = map(str, extent)
    return response
