"""Turning what a model server holds into modelwatch's JSON events.

Two steps, split between the threads on purpose:

- `snapshot_features` runs in the caller's thread and does only what must happen there: copy the
  features so that a caller who reuses or mutates its array after logging does not change what is sent.
- `encode_event` runs in the background thread and does the expensive part: naming positional values,
  turning numpy and pandas scalars into plain Python, and serialising to one NDJSON line.

numpy and pandas are never imported: they are recognised by the methods they have (`tolist`, `item`,
`index`), so the client works, and stays light, without them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Union

# A snapshot is a plain dict of name to value; a list of positional values (named later by the
# Monitor's feature names); or the names' container (a pandas Index, immutable) with a list of values,
# turned into a dict later, in the background thread.
Snapshot = Union[dict[str, Any], list[Any], tuple[Any, list[Any]], None]


class FeatureError(ValueError):
    """Features that cannot become a JSON object; `code` is the local rejection code in the stats."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# What each type of features is, worked out once per type: asking a pandas object for an attribute
# it lacks (`columns` on a Series) costs microseconds, a dict lookup costs nanoseconds.
_KINDS: dict[type, str] = {}


def _classify(cls: type) -> str:
    for base in cls.__mro__:
        package = base.__module__.partition(".")[0]
        if package == "pandas" and base.__name__ in ("Series", "DataFrame"):
            return base.__name__
        if package == "numpy" and base.__name__ == "ndarray":
            return "array"
    if issubclass(cls, Mapping):
        return "mapping"
    if issubclass(cls, Sequence) and not issubclass(cls, (str, bytes, bytearray)):
        return "sequence"
    if hasattr(cls, "tolist") and hasattr(cls, "ndim"):  # other array libraries
        return "array"
    return "invalid"


def snapshot_features(features: Any) -> Snapshot:
    """A copy of `features` that later changes by the caller cannot affect.

    Accepts a dict or other mapping; a list or tuple; a numpy array of one row; a pandas Series (a
    DataFrame row, named by its index) or a one-row DataFrame.
    """
    if features is None:
        return None
    if type(features) is dict:
        return features.copy()
    cls = type(features)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _classify(cls)
        if len(_KINDS) < 1000:
            _KINDS[cls] = kind
    if kind == "Series":
        return (features.index, features.tolist())
    if kind == "DataFrame":
        if len(features) != 1:
            raise FeatureError(
                "invalid_features", f"a DataFrame of features must have one row, not {len(features)}"
            )
        return (features.columns, features.iloc[0].tolist())
    if kind == "array":
        values = features.tolist()
        if features.ndim == 2 and len(values) == 1:
            values = values[0]
        elif features.ndim != 1:
            raise FeatureError(
                "invalid_features",
                f"an array of features must be one row (1-D, or 2-D with one row), not shape "
                f"{getattr(features, 'shape', '?')}",
            )
        return list(values)
    if kind == "mapping":
        return {str(k): v for k, v in features.items()}
    if kind == "sequence":
        return list(features)
    raise FeatureError(
        "invalid_features",
        f"features must be a mapping, a sequence, a numpy array or a pandas row, not {cls.__name__}",
    )


def name_features(snapshot: Snapshot, names: Sequence[str] | None) -> dict[str, Any] | None:
    """The features as a JSON object: positional values are named by `names`, in order."""
    if snapshot is None or isinstance(snapshot, dict):
        return snapshot
    if isinstance(snapshot, tuple):
        labels, values = snapshot
        return dict(zip(map(str, labels), values))
    if names is None:
        raise FeatureError(
            "unnamed_features",
            "positional features (a list or an array) need Monitor(feature_names=[...])",
        )
    if len(snapshot) != len(names):
        raise FeatureError(
            "feature_count_mismatch",
            f"{len(snapshot)} positional features for {len(names)} feature names",
        )
    return dict(zip(names, snapshot))


def _plain(value: Any) -> Any:
    """`json.dumps`' fallback for values it does not know: numpy scalars and arrays, pandas' NA."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "size", 1) == 1:
        return item()
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return None
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def _finite(value: Any) -> Any:
    """The value with every NaN and infinity replaced by null, which modelwatch counts as missing."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_dumps = json.JSONEncoder(
    allow_nan=False, separators=(",", ":"), ensure_ascii=False, default=_plain
).encode


def encode_event(event: dict[str, Any]) -> bytes:
    """One NDJSON line (without the newline). NaN and infinities become null: JSON has no NaN."""
    try:
        text = _dumps(event)
    except ValueError:
        # Rare: a non-finite float somewhere. Convert numpy values first so the walk sees plain floats.
        text = _dumps(_finite(json.loads(json.dumps(event, default=_plain))))
    return text.encode()
