"""The practice's today: the default as-of date of every page, report and check.

``ROUTINE_DESK_TODAY=YYYY-MM-DD`` pins it, so that a test run that crosses midnight (or a training
session on a copy of last month's data) sees one day throughout; unset, it is the machine's date.
"""

from __future__ import annotations

import os
from datetime import date


def today() -> date:
    pinned = os.environ.get("ROUTINE_DESK_TODAY")
    if not pinned:
        return date.today()
    try:
        return date.fromisoformat(pinned)
    except ValueError as exc:
        raise ValueError(f"ROUTINE_DESK_TODAY must be a date written YYYY-MM-DD, not {pinned!r}") from exc
