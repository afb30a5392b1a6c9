"""JSON text of payloads, results and details as the wire carries it (the ``*_json`` fields).

Strict both ways: ``NaN`` and ``Infinity`` are not JSON, so they are refused when serializing (the
dispatcher and the other SDKs could not read them back) and when parsing.
"""

from __future__ import annotations

import json
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str, empty: Any = None) -> Any:
    """Parses the text of a ``*_json`` field; empty text means ``empty`` (the proto's "absent")."""
    if text == "":
        return empty
    return json.loads(text, parse_constant=_refuse_constant)


def to_json(value: Any) -> str:
    """Serializes a value for a ``*_json`` field; raises TypeError or ValueError for non-JSON values."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def lenient_json(text: str) -> Any:
    """Parses stored JSON for display: the raw text when it does not parse (a read must not fail)."""
    try:
        return parse_json(text)
    except ValueError:
        return text
