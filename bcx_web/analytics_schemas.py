"""JSON schemas of the analytics answers (bcx_web.analytics_api), for the OpenAPI document."""

from __future__ import annotations

from bcx import analytics
from bcx.config import Config
from bcx_web.declared import INTERVALS
from bcx_web.schemas import DECIMAL, NULLABLE_DECIMAL, TIME, array, bounds, names, nullable, obj, row

NUMBER = {"type": "number"}
NULLABLE_NUMBER = {"type": ["number", "null"]}
COUNT = {"type": "integer", "minimum": 0}
SIGNED_DECIMAL = DECIMAL  # the pattern allows a minus sign


def answers(config: Config) -> dict[str, dict]:
    """Route name -> the schema of its 200 answer."""
    series_names = names(config)
    one_series = series_names["series"]
    ranking = obj(
        {
            **series_names,
            "last": NULLABLE_DECIMAL,
            "change_pct": NULLABLE_NUMBER,
            "volatility": NULLABLE_NUMBER,
            "volatility_annualized": NULLABLE_NUMBER,
            "volume": NULLABLE_DECIMAL,
            "trades": nullable(COUNT),
            "range_pct": NULLABLE_NUMBER,
            "activity": NULLABLE_NUMBER,
            "activity_trades": NULLABLE_NUMBER,
            "returns": COUNT,
            "complete": {"type": "boolean"},
        }
    )
    windows = {"type": "string", "enum": list(analytics.WINDOWS)}
    interval = {"type": "string", "enum": list(INTERVALS)}
    current = obj(
        {"time": TIME, "a": DECIMAL, "b": DECIMAL, "difference": SIGNED_DECIMAL, "percent": NULLABLE_NUMBER},
        can_be_null=True,
    )
    return {
        "rankings": obj(
            {
                "window": windows,
                "by": {"type": "string", "enum": list(analytics.RANK_BY)},
                **bounds(),
                "rankings": array(ranking),
            }
        ),
        "returns": obj(
            {
                **series_names,
                "mode": {"type": "string", "enum": list(analytics.RETURN_MODES)},
                **bounds(),
                "places": {"type": "integer", "enum": [analytics.PCT_PLACES]},
                "returns": array(row(TIME, DECIMAL, NULLABLE_NUMBER)),
            }
        ),
        "correlation": obj(
            {
                "series": array(one_series, min_items=2),
                "window": windows,
                "interval": interval,
                **bounds(),
                "matrix": array(array({"type": ["number", "null"], "minimum": -1, "maximum": 1})),
                "buckets": array(array(COUNT)),
            }
        ),
        "spread": obj(
            {
                "series": array(one_series, min_items=2, max_items=2),
                **bounds(),
                "interval": interval,
                "current": current,
                "points": array(row(TIME, SIGNED_DECIMAL, NULLABLE_NUMBER), max_items=config.web.max_points),
            }
        ),
    }
