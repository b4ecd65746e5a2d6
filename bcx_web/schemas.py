"""JSON schemas (OpenAPI 3.1, so JSON Schema 2020-12) of the API's answers, for the OpenAPI document
(bcx_web.openapi): exact enough that a schema check proves something (tests/integration/test_schemathesis.py runs
one on every answer)."""

from __future__ import annotations

from bcx.config import Config
from bcx.series import split
from bcx.tick import RAW
from bcx_web.declared import INTERVALS
from bcx_web.params import MAX_TIME_MS
from bcx_web.series import FIELDS

MAX_ID = 2**53 - 1  # trade ids stay exact in JSON for JavaScript clients (bcx_tracker.tick_checks)
DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}  # exact, as the exchange wrote it or Decimal
TIME = {"type": "integer", "minimum": 0, "maximum": MAX_TIME_MS}


def nullable(schema: dict) -> dict:
    """`schema` or null (OpenAPI 3.1: JSON Schema 2020-12 types)."""
    kind = schema["type"]
    return schema | {"type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


NULLABLE_DECIMAL = nullable(DECIMAL)


def obj(properties: dict, can_be_null: bool = False) -> dict:
    """An object with exactly these properties, all present."""
    schema = {"type": "object", "required": list(properties), "properties": properties, "additionalProperties": False}
    return nullable(schema) if can_be_null else schema


def array(items: dict, min_items: int = 0, max_items: int | None = None) -> dict:
    schema = {"type": "array", "items": items, "minItems": min_items}
    return schema | ({"maxItems": max_items} if max_items is not None else {})


def row(*items: dict) -> dict:
    """A fixed-length array of these items. Each position may hold any of the items' schemas: prefixItems would
    say which one where, but schemathesis 4.32 rewrites it to a draft-7 `items` list and then refuses that."""
    unique = [item for i, item in enumerate(items) if item not in items[:i]]
    return {"type": "array", "items": {"anyOf": unique}, "minItems": len(items), "maxItems": len(items)}


def tick(can_be_null: bool = False) -> dict:
    return obj(
        {
            "time": TIME,
            "trade_id": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            "price": DECIMAL,
            "bid": NULLABLE_DECIMAL,
            "ask": NULLABLE_DECIMAL,
            "size": NULLABLE_DECIMAL,
        },
        can_be_null,
    )


def names(config: Config) -> dict:
    """The three names of a configured series in an answer (bcx.series.Series.as_dict)."""
    ids = [split(one) for one in config.tracker.products]
    return {
        "series": {"type": "string", "enum": sorted(config.tracker.products)},
        "exchange": {"type": "string", "enum": sorted({one.exchange for one in ids})},
        "product": {"type": "string", "enum": sorted({one.product for one in ids})},
    }


def bounds() -> dict:
    return {"start": TIME, "end": TIME}


DAY = obj(
    {
        "open": DECIMAL,
        "high": NULLABLE_DECIMAL,
        "low": NULLABLE_DECIMAL,
        "close": DECIMAL,
        "change": DECIMAL,
        "volume": NULLABLE_DECIMAL,
        "complete": {"type": "boolean"},
    },
    can_be_null=True,
)
ALERT = obj(
    {
        "id": nullable({"type": "string", "pattern": r"^[0-9]+-[0-9]+$"}),
        "time": TIME,
        "rule": {"type": "string"},
        "series": {"type": "string"},
        "exchange": {"type": "string"},
        "product": {"type": "string"},
        "kind": {"type": "string", "enum": ["threshold", "change", "spike", "activity", "spread", "stale", "recovery"]},
        "field": {"type": "string"},
        "op": {"type": "string"},
        "value": {"type": "string"},
        "threshold": {"type": "string"},
        "trade_id": nullable({"type": "integer", "minimum": 0, "maximum": MAX_ID}),
        "message": {"type": "string"},
    }
)
RULE = obj(
    {
        "name": {"type": "string"},
        "series": {"type": "string"},
        "exchange": {"type": "string"},
        "product": {"type": "string"},
        "kind": {"type": "string", "enum": ["threshold", "change", "spike", "spread", "stale"]},
        "when": {"type": "string"},
        "field": nullable({"type": "string"}),
        "op": nullable({"type": "string"}),
        "threshold": NULLABLE_DECIMAL,
    }
)
TIER = {"type": "string", "enum": [RAW, *INTERVALS]}
TIER_NAMES = "|".join(TIER["enum"])


def sse_event(name: str, data: dict, with_id: bool) -> dict:
    """One Server-Sent Event as schemathesis reads a stream (a `retry:` line and comments are not events): its
    name, its id for alerts (the alert id, which Last-Event-ID resumes after), and its data, one JSON object."""
    fields = {
        "event": {"type": "string", "enum": [name]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
    }
    if with_id:
        fields["id"] = {"type": "string", "pattern": r"^[0-9]+-[0-9]+$"}
    return {"type": "object", "required": list(fields), "properties": fields}


ERROR = obj({"error": {"type": "string"}})


def answers(config: Config) -> dict[str, dict]:
    """Route name -> the schema of its 200 answer."""
    limit = config.web.max_limit
    return {
        "products": obj({"products": array(obj({**names(config), "last": tick(can_be_null=True), "day": DAY}))}),
        "ticks": obj(
            {
                **names(config),
                **bounds(),
                "limit": {"type": "integer", "minimum": 1, "maximum": limit},
                "truncated": {"type": "boolean"},
                "ticks": array(tick(), max_items=limit),
            }
        ),
        "series": obj(
            {
                **names(config),
                "field": {"type": "string", "enum": list(FIELDS)},
                **bounds(),
                "tier": TIER,
                "truncated": {"type": "boolean"},
                "points": array(row(TIME, DECIMAL), max_items=config.web.max_points),
            }
        ),
        "candles": obj(
            {
                **names(config),
                "interval": {"type": "string", "enum": list(INTERVALS)},
                **bounds(),
                "truncated": {"type": "boolean"},
                "candles": array(row(TIME, DECIMAL, DECIMAL, DECIMAL, DECIMAL, DECIMAL)),
            }
        ),
        "compare": obj(
            {
                **bounds(),
                "tier": {"type": "string", "pattern": rf"^({TIER_NAMES})?(,({TIER_NAMES}))*$"},
                "series": {
                    "type": "object",
                    "additionalProperties": array(row(TIME, {"type": "number"}), max_items=config.web.max_points),
                },
            }
        ),
        "alerts": obj({"alerts": array(ALERT, max_items=1000)}),
        "rules": obj({"rules": array(RULE)}),
        "health": obj(
            {
                "status": {"type": "string", "enum": ["ok"]},
                "redis": {"type": "boolean", "enum": [True]},
                "tick_age_seconds": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
            }
        ),
        "health_down": obj(
            {
                "status": {"type": "string", "enum": ["unavailable"]},
                "redis": {"type": "boolean", "enum": [False]},
                "error": {"type": "string"},
                "tick_age_seconds": {"type": "object", "additionalProperties": {"type": "null"}},
            }
        ),
        "openapi": {"type": "object", "required": ["openapi", "info", "paths"]},
        "alert_events": sse_event("alert", ALERT, with_id=True),
        "tick_events": sse_event("tick", obj({**names(config), **tick()["properties"]}), with_id=False),
    }
