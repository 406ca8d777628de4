"""Where a pregnancy stands on a date, from the due date staff record.

Gestational age on a date is 40 weeks minus the time left to the due date; the pregnancy is taken
to end six weeks after the due date unless staff mark the day it ended, and when staff flag a
client as postpartum without an end date, the due date is taken as the end. The arithmetic exists
twice, in Python (``pregnancy_status``) for the detail view and the handout and in SQL
(``pregnancy_sql``) for lists and the safety rules; tests hold them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PREGNANCY_DAYS = 280          # 40 weeks from the first day of the last period to the due date
POSTPARTUM_DAYS = 42          # pregnancy care ends six weeks after the due date unless marked ended


def gestational_days(due_date: date, on: date) -> int:
    """Days of pregnancy completed on ``on``: 280 minus the days left to the due date."""
    return PREGNANCY_DAYS - (due_date - on).days


def gestational_week(due_date: date, on: date) -> int:
    """Completed weeks of pregnancy on ``on`` (week 24 runs from 24+0 to 24+6)."""
    return gestational_days(due_date, on) // 7


def due_date_from_gestation(weeks: int, on: date, days: int = 0) -> date:
    """The due date of a pregnancy that is ``weeks``+``days`` along on ``on``."""
    return on + timedelta(days=PREGNANCY_DAYS - 7 * weeks - days)


def pregnancy_end(due_date: date, ended_on: date | None = None, postpartum: bool = False) -> date:
    """The first day the client no longer counts as pregnant.

    The day staff marked the pregnancy ended; else, when she is flagged postpartum, the due date;
    else six weeks after the due date.
    """
    if ended_on is not None:
        return ended_on
    if postpartum:
        return due_date
    return due_date + timedelta(days=POSTPARTUM_DAYS)


def trimester(week: int) -> int:
    """1 up to week 12, 2 from week 13, 3 from week 28."""
    return 1 if week < 13 else 2 if week < 28 else 3


@dataclass(frozen=True)
class PregnancyStatus:
    """Where a pregnancy stands on one date. ``phase``: not_yet | pregnant | ended."""

    phase: Literal["not_yet", "pregnant", "ended"]
    due_date: date
    ends_on: date
    week: int | None = None
    day: int | None = None

    @property
    def pregnant(self) -> bool:
        return self.phase == "pregnant"

    @property
    def trimester(self) -> int | None:
        return trimester(self.week) if self.week is not None else None

    def label(self) -> str:
        if self.phase == "pregnant":
            return f"{self.week}+{self.day} weeks pregnant (trimester {self.trimester}), due {self.due_date.isoformat()}"
        if self.phase == "ended":
            return f"pregnancy ended (counted until {self.ends_on.isoformat()})"
        return f"due {self.due_date.isoformat()} (not yet pregnant on this date)"


def pregnancy_status(due_date: date | None, ended_on: date | None, postpartum: bool, on: date) -> PregnancyStatus | None:
    """The pregnancy on ``on``, or None when no due date is recorded."""
    if due_date is None:
        return None
    end = pregnancy_end(due_date, ended_on, postpartum)
    days = gestational_days(due_date, on)
    if on >= end:
        return PregnancyStatus("ended", due_date, end)
    if days < 0:
        return PregnancyStatus("not_yet", due_date, end)
    return PregnancyStatus("pregnant", due_date, end, days // 7, days % 7)


def pregnancy_sql(client: str, on: str) -> dict[str, str]:
    """SQL expressions for the same arithmetic, for a ``clients`` row aliased ``client`` on the
    date expression ``on``: ``pregnant`` (boolean), ``week`` (integer or NULL), ``over``
    (the pregnancy has ended by then), ``end`` (first day no longer pregnant) and ``next_change``
    (the first day after ``on`` on which ``pregnant``, ``week`` or ``over`` differ; NULL when none
    will)."""
    start = f"{client}.due_date - {PREGNANCY_DAYS}"
    end = (f"coalesce({client}.pregnancy_ended_on, CASE WHEN {client}.postpartum THEN {client}.due_date"
           f" ELSE {client}.due_date + {POSTPARTUM_DAYS} END)")
    pregnant = (f"({client}.due_date IS NOT NULL AND {on} >= {client}.due_date - {PREGNANCY_DAYS}"
                f" AND {on} < {end})")
    return {
        "end": end,
        "pregnant": pregnant,
        "week": (f"CASE WHEN {pregnant} THEN CAST(floor(({PREGNANCY_DAYS} - ({client}.due_date - {on})) / 7.0)"
                 f" AS INTEGER) END"),
        "over": f"({client}.due_date IS NOT NULL AND {on} >= {end})",
        "next_change": (f"CASE WHEN {client}.due_date IS NULL OR {on} >= {end} THEN NULL"
                        f" WHEN {on} < {start} THEN {start}"
                        f" ELSE least({start} + 7 * (CAST(floor(({on} - ({start})) / 7.0) AS INTEGER) + 1), {end}) END"),
    }
