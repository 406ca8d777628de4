from datetime import date

import pytest

from core import clock


def test_today_is_the_machine_date_unless_pinned(monkeypatch) -> None:
    monkeypatch.delenv("ROUTINE_DESK_TODAY", raising=False)
    assert clock.today() == date.today()
    monkeypatch.setenv("ROUTINE_DESK_TODAY", "2025-03-26")
    assert clock.today() == date(2025, 3, 26)
    monkeypatch.setenv("ROUTINE_DESK_TODAY", "26/03/2025")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        clock.today()
