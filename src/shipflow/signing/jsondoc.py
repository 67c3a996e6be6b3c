"""Read a signed JSON document (payload, envelope, statement) as one JSON object.

The three documents fail the same two ways (not JSON, not an object); each module raises its
own error type so callers keep telling them apart.
"""

from __future__ import annotations

import json
from typing import Any


def load_object(data: bytes, what: str, error: type[Exception]) -> dict[str, Any]:
    """``data`` parsed as a JSON object; ``error`` naming ``what`` if it is not JSON or not an object."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise error(f"{what} is not a JSON object")
    return doc
