"""Warning signs in what clients write in their session notes, tagged and judged for the alerts.

What counts as a sign is the vocabulary in data/red_flags (core/practice/warning_signs.py): ACOG
pregnancy warning signs, cauda equina signs, the other NICE CKS red flags, and one-sided nerve signs
and sharp pain (../shared/clinical-notes.md). A note's tags are stored comma-separated in
``session_logs.red_flags``: the sign's id when the note mentions it, ``no_<id>`` when it only says the
sign is absent ("no dizziness", "bleeding-free"), a low tag shown on the note that never alerts.

A tag's level depends on the client on the session's date: a pregnancy warning sign is critical
(and worded as one) only while she is pregnant or up to six weeks after; for anyone else it is
judged on its own (chest pain, fainting: high; dizziness: medium). Cauda equina signs are critical
for everyone. The level and that pregnancy context are stored beside the tags when a log is written
(import, manual entry, quarantine re-submit all pass ``insert_accepted`` in checks.py) and written
again when a client's pregnancy fields change, so the alerts only read what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.db.store import Store, utcnow
from core.practice.warning_signs import (
    LEVELS, NEGATED_PREFIX, Level, Sign, Vocabulary, judge_session_logs_sql, level_sql, note_tags,
    pregnancy_window_sql, vocabulary,
)

ALERT_LEVELS: tuple[Level, ...] = ("critical", "high", "medium")   # a low tag is shown, never alerted


@dataclass(frozen=True)
class RedFlag:
    """A tag as staff read it: its label, its level for a client who is not pregnant, its group."""

    tag: str
    label: str
    level: Level
    context: str


def _red_flags(vocab: Vocabulary) -> tuple[RedFlag, ...]:
    signs = tuple(RedFlag(s.id, s.label, s.everyone, s.group) for s in vocab.signs)
    denied = tuple(RedFlag(NEGATED_PREFIX + s.id, f"No {s.label[0].lower()}{s.label[1:]} (says so)", "low", s.group)
                   for s in vocab.signs)
    return signs + denied


RED_FLAGS: tuple[RedFlag, ...] = _red_flags(vocabulary())
BY_TAG: dict[str, RedFlag] = {flag.tag: flag for flag in RED_FLAGS}


def parse_tags(stored: str | None) -> list[str]:
    """The tags in a ``session_logs.red_flags`` value (comma-separated, or NULL)."""
    return [tag for tag in (stored or "").split(",") if tag]


def tags_label(stored: str | None) -> str | None:
    """A stored tag list as the labels staff read ("Tingling, Sharp pain"), or None when empty."""
    return ", ".join(BY_TAG[t].label if t in BY_TAG else t.replace("_", " ") for t in parse_tags(stored)) or None


def signs_mentioned(tags: Iterable[str]) -> list[str]:
    """The tags that say a sign is present (not the ``no_`` ones)."""
    return [t for t in tags if not t.startswith(NEGATED_PREFIX)]


def tag_level(tag: str, pregnant: bool) -> Level:
    """A tag's level for a client who is (not) pregnant or within six weeks after; unknown: low."""
    sign = vocabulary().by_id().get(tag)
    return sign.level(pregnant) if sign is not None else "low"


def highest_level(tags: Iterable[str], pregnant: bool = False) -> Level | None:
    """The most urgent level among ``tags`` for this client, or None when there are none."""
    found = {tag_level(t, pregnant) for t in tags}
    return next((level for level in LEVELS if level in found), None)


# -- tagging and judging session logs -----------------------------------------------------------

def judged_sql(tags: str, client: str, on: str) -> tuple[str, str]:
    """SQL for the (level, pregnant) columns of a log with tags ``tags`` on ``on``, for the
    ``clients`` row aliased ``client`` that the caller joins (a join, not a subquery per row: a
    million-row import's INSERT took twice as long that way)."""
    pregnant = pregnancy_window_sql(client, on)
    return level_sql(tags, pregnant, vocabulary()), pregnant


def judge_sql(where: str = "TRUE") -> str:
    """An UPDATE setting level and pregnancy context of ``session_logs s`` rows matching ``where``."""
    return judge_session_logs_sql(where, vocabulary())


def tag_rows(cur: Any, table: str, where: str = "TRUE", params: Sequence[Any] = ()) -> int:
    """Set ``red_flags`` of the rows of ``table`` matching ``where`` from their ``notes``, each
    distinct note tagged once (``warning_signs.note_tags``). Returns the number of rows tagged."""
    vocab = vocabulary()
    notes = [n for (n,) in cur.execute(
        f"SELECT DISTINCT notes FROM {table} WHERE ({where}) AND notes IS NOT NULL", list(params)).fetchall()]
    cur.execute(f"UPDATE {table} SET red_flags = NULL WHERE ({where}) AND red_flags IS NOT NULL", list(params))
    tagged = [(note, tags) for note in notes if (tags := note_tags(note, vocab)) is not None]
    if not tagged:
        return 0
    cur.register("tagged_notes", pd.DataFrame(tagged, columns=["notes", "tags"], dtype=object))
    try:
        return cur.execute(f"UPDATE {table} SET red_flags = t.tags FROM tagged_notes t"
                           f" WHERE ({where}) AND {table}.notes = t.notes", list(params)).fetchone()[0]
    finally:
        cur.unregister("tagged_notes")


def tag_session_logs(cur: Any, where: str = "TRUE", params: Sequence[Any] = ()) -> None:
    """Tag and judge ``session_logs`` rows matching ``where`` inside the caller's transaction ``cur``."""
    tag_rows(cur, "session_logs", where, params)
    cur.execute(judge_sql(where.replace("session_logs.", "s.")), list(params))


def retag_if_vocabulary_changed(store: Store) -> bool:
    """Tag every session log again when data/red_flags changed since they were tagged (or were
    tagged before levels existed). True when it did; one transaction, so readers see old or new."""
    current = vocabulary().fingerprint
    if store.scalar("SELECT max(fingerprint) FROM red_flag_vocabulary") == current:
        return False
    from core.db.store import SESSION_LOGS

    with store.transaction(touches=(SESSION_LOGS,)) as cur:
        tag_session_logs(cur)
        cur.execute("DELETE FROM red_flag_vocabulary")
        cur.execute("INSERT INTO red_flag_vocabulary VALUES (?, ?)", [current, utcnow()])
    return True


def tag_notes(notes: Sequence[str | None]) -> list[list[str]]:
    """The tags found in each of ``notes``, in order — the same tagger the importer runs."""
    vocab = vocabulary()
    return [parse_tags(note_tags(note, vocab)) for note in notes]


# -- wording for the alerts --------------------------------------------------------------------

_CAUDA_EQUINA = ("possible cauda equina signs need a same-day emergency referral. Contact the client today"
                 " and ask about saddle numbness and bladder or bowel changes.")
_PREGNANCY = "a pregnancy warning sign: she should stop exercising and contact her care provider. Contact the client today."
_SEEK_CARE = "stop exercising and seek medical care. Contact the client today."
_SERIOUS = ("a red flag for a possible serious cause of back pain: ask the client about it and arrange a medical"
            " review.")
_NERVE = ("read the note and ask the client, also about numbness in the saddle area and bladder or bowel changes"
          " (people rarely mention these unasked). One-sided tingling that is not getting worse is for the"
          " therapist to review, not an emergency; nerve symptoms that keep getting worse are a red flag for a"
          " medical assessment.")
_FETAL_NOT_RECORDED = ("the note speaks of the baby's movements but no current due date is recorded: check the"
                       " client's record and contact the client today.")
# Notes that mention these may be a nerve problem: the advice asks about the cauda equina signs
# (clinical notes: NICE CKS; people rarely volunteer saddle numbness).
_NERVE_SIGNS = frozenset({"numbness", "tingling", "pins_and_needles"})
_READ = "read the note and ask the client about it before the next session; review the load."


def _advice(signs: list[Sign], pregnant: bool) -> str:
    top = highest_level([s.id for s in signs], pregnant)
    urgent = [s for s in signs if s.level(pregnant) == top]
    groups = {s.group for s in urgent}
    if "cauda_equina" in groups:
        return _CAUDA_EQUINA
    if any(s.pregnancy_sign(pregnant) for s in urgent):
        return _PREGNANCY
    if any(s.id == "reduced_fetal_movement" for s in signs) and not pregnant:
        return _FETAL_NOT_RECORDED
    if "pregnancy" in groups and top == "high":
        return _SEEK_CARE
    if "serious_pathology" in groups:
        return _SERIOUS
    if any(s.id in _NERVE_SIGNS for s in urgent):
        return _NERVE
    return _READ


def alert_reason(when: str, tags: Iterable[str], pregnant: bool) -> str:
    """Why a note alerts, for staff: the signs it mentions at an alerting level and what to do.

    A sign is called a pregnancy warning sign only when ``pregnant`` (the client was pregnant on
    the session's date or up to six weeks after)."""
    by_id = vocabulary().by_id()
    signs = [by_id[t] for t in signs_mentioned(tags) if t in by_id and by_id[t].level(pregnant) in ALERT_LEVELS]
    labels = ", ".join(s.label.lower() for s in signs)
    return f"Session note on {when} mentions {labels}: {_advice(signs, pregnant)}"
