"""Warning signs in what clients write in their session notes, tagged for the alerts.

Two sets of signs matter (see /work/shared/clinical-notes.md):

- pregnancy warning signs (ACOG): bleeding, dizziness, chest pain, contractions, leaking fluid,
  calf pain or swelling — stop exercising and contact the care provider;
- low-back red flags (NICE CKS): saddle numbness and a new bladder or bowel change point to cauda
  equina (same-day referral); numbness, tingling, pins and needles or sharp pain are for the
  therapist to look at.

The tagger reads free text, so it errs on the side of tagging: it does not try to understand
negations ("no dizziness" is still tagged). A person reads the note behind every alert; a missed
sign costs more than a second look. Tags are stored comma-separated in ``session_logs.red_flags``.

Matching runs in SQL (RE2 regular expressions on the lower-cased note) so an import of a million
rows tags them in one set-based pass, and the demo generator can tag its rows the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.db.store import Store

Level = Literal["critical", "high"]
Context = Literal["pregnancy", "low_back"]

LEVELS: tuple[Level, ...] = ("critical", "high")  # most urgent first

# Building blocks for the patterns: up to N words between two terms of one phrase.
_GAP2 = r"\W+(?:\w+\W+){0,2}"
_GAP3 = r"\W+(?:\w+\W+){0,3}"
_SENSATION = r"(?:numb\w*|tingl\w*|pins and needles|no feeling|can't feel|anaesth\w*|anesth\w*)"
_SADDLE_AREA = r"(?:saddle|groin|genital\w*|perine\w*|inner thighs?|between (?:my|the) legs)"
_CALF_COMPLAINT = r"(?:pain\w*|swell\w*|swollen|sore\w*|tender\w*|ach\w*|hurt\w*|cramp\w*)"


@dataclass(frozen=True)
class RedFlag:
    """One warning sign: its tag, how urgent it is, which care it belongs to, and how it is found.

    ``pattern`` is an RE2 expression matched anywhere in the lower-cased note; ``ignore`` is an
    optional expression removed from the note first, for common phrases that only look alike
    ("blood pressure" is not bleeding).
    """

    tag: str
    label: str
    level: Level
    context: Context
    pattern: str
    ignore: str | None = None


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag("saddle_numbness", "Numbness in the saddle area", "critical", "low_back",
            rf"{_SADDLE_AREA}{_GAP3}{_SENSATION}|{_SENSATION}{_GAP3}{_SADDLE_AREA}"),
    RedFlag("bladder_bowel_change", "Bladder or bowel change", "critical", "low_back",
            r"bladder|bowel|incontinen\w*|wet myself"
            rf"|(?:can't|cannot|couldn't|unable to|trouble|difficulty){_GAP2}(?:pee|urinat\w*|wee)\b"
            rf"|leak\w*{_GAP2}urine|urine{_GAP2}leak\w*"),
    RedFlag("bleeding", "Bleeding", "critical", "pregnancy",
            r"bleed\w*|\bblood\w*|spotting|ha?emorrhag\w*",
            ignore=r"blood (?:pressure|sugar|tests?|work)"),
    RedFlag("dizziness", "Dizziness or faintness", "critical", "pregnancy",
            r"dizz\w*|light\W?headed\w*|\bfaint(?:ed|ing)\b|(?:felt|feel|feeling|nearly|almost|going to)\W+faint\b"
            r"|passed out|blacked out|vertigo|woozy"),
    RedFlag("chest_pain", "Chest pain", "critical", "pregnancy",
            rf"chest{_GAP2}(?:pain\w*|tight\w*|pressure|ach\w*|hurt\w*|discomfort)"
            r"|(?:pain|pressure|tightness|ache)\W+(?:in|on|across)\W+(?:my|the)\W+chest"),
    RedFlag("contractions", "Contractions", "critical", "pregnancy",
            r"contraction\w*|braxton|labou?r pains?"
            r"|(?:bump|belly|tummy|uterus|womb)\W+(?:\w+\W+){0,1}tighten\w*"),
    RedFlag("fluid_leaking", "Leaking fluid", "critical", "pregnancy",
            rf"(?:leak|gush|trickl)\w*{_GAP3}(?:fluid|water|liquid)|(?:fluid|liquid){_GAP3}(?:leak|gush|trickl)\w*"
            r"|waters?\W+(?:\w+\W+){0,1}(?:broke|broken|breaking|went)\b|amniotic"),
    RedFlag("calf_pain_swelling", "Calf pain or swelling", "critical", "pregnancy",
            rf"\bcal(?:f|ves)\b{_GAP3}{_CALF_COMPLAINT}|{_CALF_COMPLAINT}{_GAP3}cal(?:f|ves)\b"
            rf"|{_CALF_COMPLAINT}\W+in\W+(?:the\W+)?(?:back\W+of\W+)?(?:my\W+|the\W+)?cal(?:f|ves)\b"),
    RedFlag("numbness", "Numbness", "high", "low_back",
            r"\bnumb(?:ness|ed|ing)?\b|loss of (?:feeling|sensation)"),
    RedFlag("tingling", "Tingling", "high", "low_back", r"tingl\w*"),
    RedFlag("pins_and_needles", "Pins and needles", "high", "low_back",
            r"pins\W+(?:and|&|n)\W+needles"),
    RedFlag("sharp_pain", "Sharp pain", "high", "low_back",
            rf"sharp{_GAP2}(?:pain\w*|twinge\w*|ache|stab\w*|shooting)|stabbing|shooting\W+(?:\w+\W+){{0,1}}pain"),
)

BY_TAG: dict[str, RedFlag] = {flag.tag: flag for flag in RED_FLAGS}

# What the alert code (issue 5) maps tags to: a tag's urgency.
TAG_LEVELS: dict[str, Level] = {flag.tag: flag.level for flag in RED_FLAGS}


def parse_tags(stored: str | None) -> list[str]:
    """The tags in a ``session_logs.red_flags`` value (comma-separated, or NULL)."""
    return [tag for tag in (stored or "").split(",") if tag]


def tags_label(stored: str | None) -> str | None:
    """A stored tag list as the labels staff read ("Tingling, Sharp pain"), or None when empty."""
    return ", ".join(BY_TAG[t].label if t in BY_TAG else t.replace("_", " ") for t in parse_tags(stored)) or None


def highest_level(tags: Iterable[str]) -> Level | None:
    """The most urgent level among ``tags`` (unknown tags are ignored), or None."""
    found = {TAG_LEVELS[t] for t in tags if t in TAG_LEVELS}
    return next((level for level in LEVELS if level in found), None)


def _normalised(notes_sql: str) -> str:
    # Curly apostrophes (phones type them) become straight ones so "can’t" matches "can't".
    return f"replace(lower({notes_sql}), '\u2019', '''')"


def _escape(pattern: str) -> str:
    return pattern.replace("'", "''")


def red_flags_sql(notes_sql: str) -> str:
    """A SQL expression giving the comma-separated tags found in ``notes_sql`` (NULL when none).

    ``notes_sql`` is any SQL expression of type VARCHAR, e.g. a column name. Use it in a SELECT or
    an UPDATE; DuckDB evaluates the patterns over whole vectors, not row by row in Python.
    """
    text = _normalised(notes_sql)
    parts = []
    for flag in RED_FLAGS:
        subject = text if flag.ignore is None else f"regexp_replace({text}, '{_escape(flag.ignore)}', ' ', 'g')"
        parts.append(f"CASE WHEN regexp_matches({subject}, '{_escape(flag.pattern)}') THEN '{flag.tag}' END")
    return f"CASE WHEN {notes_sql} IS NOT NULL THEN nullif(concat_ws(',', {', '.join(parts)}), '') END"


def tag_session_logs_sql(where: str = "TRUE") -> str:
    """An UPDATE that (re)tags ``session_logs`` rows matching ``where`` from their notes.

    The demo generator runs it after inserting its rows: ``cur.execute(tag_session_logs_sql("source = 'demo'"))``.
    """
    return f"UPDATE session_logs SET red_flags = {red_flags_sql('notes')} WHERE ({where})"


def tag_session_logs(cur: Any, where: str = "TRUE", params: Sequence[Any] = ()) -> None:
    """Tag ``session_logs`` rows matching ``where`` inside the caller's transaction ``cur``."""
    cur.execute(tag_session_logs_sql(where), list(params))


def tag_notes(store: Store, notes: Sequence[str | None]) -> list[list[str]]:
    """The tags found in each of ``notes``, in order — the same SQL the importer runs."""
    if not notes:
        return []
    rows = store.rows(
        f"SELECT i, {red_flags_sql('n')} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(n, i) ORDER BY i",
        [list(notes)],
    )
    return [parse_tags(tags) for _, tags in rows]
