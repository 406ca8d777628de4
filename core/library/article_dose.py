"""Read an exercise dose (hold, reps, sets, breaths, per side) from the words an article uses.

Articles write one prescription in many ways: "hold for 20-30 seconds", "30 seconds to one
minute", "2 × 30–45 seconds per side", "2–3 sets of 10–15 reps", "repeat 2–3 times per side",
"5 slow breaths", "twice". This module turns such words into a ``DoseDraft`` with [min, max]
ranges, and leaves a field empty when the text does not give it: it never guesses a number.

Rules worth knowing:
- a time that belongs to a rest ("rest 30 seconds between sets"), a schedule ("10 minutes a
  day", "every 30–60 minutes") or a total ("Total: 10–15 minutes") is not a hold;
- "N times" (and "N rounds" without "of") is the number of sets when the exercise is a hold or a
  count of breaths, otherwise the number of repetitions (a hold of 10 seconds or less repeated 5
  times or more is reps with a pause: "hold 5 seconds, 10 times") or the sets when reps are already given, so
  "10 each leg. Repeat 2–3 times" is 2–3 sets of 10;
- a bare count is reps when it is tied to a side ("10 each leg", "ten on each side"), counts a
  movement ("twelve lifts", "6 to 10 slides", "10 slow hinges") or follows "do" ("Do 10");
- a time after "continue", "keep going" or "carry on" is a duration (``duration_s``), not a hold;
  a distance ("2 x 20 metres") gives only the sets;
- "work up to 10 repetitions" is read as 10 (the target), "start with 5 ... work up to 10" as 5–10;
- a value beyond the library's limits (hold over 600 s, over 100 reps, 10 sets, 30 breaths) is
  dropped as not a prescription.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

Pair = tuple[int, int]

# Same limits as the content loader (core.library.content.DOSE_LIMITS): beyond them it is not a dose.
LIMITS = {"hold_s": 600, "reps": 100, "sets": 10, "breaths": 30}
SHORT_HOLD_S = 10  # a hold this short, repeated many times, is a rep with a pause ("hold 5 seconds, 10 times")
MANY_TIMES = 5
DURATION_LIMIT = 3600  # a longer "duration" is a schedule, not one exercise


@dataclass(frozen=True)
class DoseDraft:
    """A dose as read from text: each amount is an inclusive (min, max) pair or None."""

    hold_s: Pair | None = None
    reps: Pair | None = None
    sets: Pair | None = None
    breaths: Pair | None = None
    per_side: bool | None = None
    seconds_per_rep: float | None = None
    duration_s: Pair | None = None  # "continue for one minute": time spent moving, not a hold

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def has_amount(self) -> bool:
        """True when the dose says how much: a hold, reps or breaths (what a library entry needs)."""
        return any(v is not None for v in (self.hold_s, self.reps, self.breaths))

    def filled_from(self, other: DoseDraft) -> DoseDraft:
        """This dose, with the fields it leaves empty taken from ``other``."""
        return replace(self, **{
            f.name: getattr(other, f.name) for f in fields(self)
            if getattr(self, f.name) is None and getattr(other, f.name) is not None
        })

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by the CLI and the content files: pairs as [min, max] lists."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DoseDraft:
        """Inverse of ``to_dict``; unknown keys are ignored, bad pairs become None."""
        data = data or {}
        values: dict[str, Any] = {}
        for name in (*LIMITS, "duration_s"):
            pair = data.get(name)
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
                values[name] = _ordered(int(pair[0]), int(pair[1]))
        per_side = data.get("per_side")
        values["per_side"] = per_side if isinstance(per_side, bool) else None
        spr = data.get("seconds_per_rep")
        values["seconds_per_rep"] = float(spr) if isinstance(spr, (int, float)) and spr > 0 else None
        return cls(**values)


def _ordered(a: int, b: int) -> Pair:
    return (a, b) if a <= b else (b, a)


# -- number words --------------------------------------------------------------------------------

_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SMALL_RE = "|".join(_SMALL[1:])
_NUMBER_WORD = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-](?P<unit>{'|'.join(_SMALL[1:10])}))?|(?P<small>{_SMALL_RE}))\b")

_PHRASES = [  # whole phrases first, before single words are turned into digits
    (re.compile(r"\b(?:a|one) minute and a half\b|\b(?:one|1) and a half minutes?\b"), "90 seconds"),
    (re.compile(r"\bhalf (?:a|one) minute\b"), "30 seconds"),
    (re.compile(r"\b(?:a|an) minute\b"), "1 minute"),
    (re.compile(r"\bonce or twice\b"), "1-2 times"),
    (re.compile(r"\btwice\b"), "2 times"),
    (re.compile(r"\bthrice\b"), "3 times"),
    (re.compile(r"\ba dozen\b"), "12"),
]


def _number_word(match: re.Match[str]) -> str:
    if match["small"]:
        return str(_SMALL.index(match["small"]))
    return str(_TENS[match["tens"]] + (_SMALL.index(match["unit"]) if match["unit"] else 0))


def normalize(text: str) -> str:
    """Lower-case text with one kind of dash, one kind of times sign and digits for number words."""
    text = text.lower().replace("\u00a0", " ")
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"\b\d+\s*/\s*\d+\b", "ratio", text)  # "90/90 switches" names a position, not a count
    text = re.sub(r"(?<=\d)\s*[×✕xX]\s*(?=\d)", " x ", text.replace("×", " x "))
    for pattern, repl in _PHRASES:
        text = pattern.sub(repl, text)
    return _NUMBER_WORD.sub(_number_word, text)


# -- patterns ------------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_SEP = r"\s*(?:-|to|or)\s*"
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?)"
_ADJ = r"(?:(?:slow|slowly|controlled|gentle|smooth|small|deep|full|easy|steady|careful|long|calm|big|relaxed|more|quality)\s+)*"


def _range(name: str) -> str:
    return rf"(?P<{name}1>{_NUM})(?:{_SEP}(?P<{name}2>{_NUM}))?"


_DURATION = (rf"(?P<d1>{_NUM})(?:\s*(?P<u1>{_UNIT})?{_SEP}(?P<d2>{_NUM}))?\s*-?\s*(?P<u2>{_UNIT})\b")
_REP_WORD = r"(?:reps?|repetitions?)\b"
_DISTANCE = r"(?:metres?|meters?|m|yards?|yds?|km|kilometres?|feet|ft|miles?|lengths?)\b"
_SIDE = r"(?:sides?|legs?|hips?|knees?|feet|foot|arms?|directions?|ways?)"
# Plural nouns that count something other than a movement: "three moves", "10 minutes", "two hands".
_NOT_COUNTED = set("""
seconds secs minutes mins hours days weeks months years times sets reps repetitions rounds circuits breaths
metres meters yards feet inches centimetres centimeters cm kg pounds lbs degrees counts people clients
exercises moves stretches poses drills movements positions variations options ways sides legs arms hands
fingers toes knees hips things parts muscles pillows cushions blocks chairs books points tips
""".split())
_COUNT = rf"{_range('c')}\s*{_ADJ}(?P<noun>[a-z][a-z'-]*s)\b"

# Order matters: combined forms first, so "2 x 30 seconds" is not also read as a bare 30 s hold.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("sets_x_duration", re.compile(rf"{_range('s')}\s*x\s*{_DURATION}")),
    ("sets_x_distance", re.compile(rf"{_range('s')}\s*x\s*{_NUM}\s*{_DISTANCE}")),
    ("sets_x_reps", re.compile(
        rf"{_range('s')}\s*x\s*{_range('r')}(?!\s*-?\s*{_UNIT}\b)(?!\d)(?:\s*{_ADJ}{_REP_WORD})?")),
    ("start_work_up", re.compile(
        rf"\bstart(?:ing)? with (?P<a>{_NUM})\b[^.;]*?\bwork (?:your way )?up to (?P<b>{_NUM})\s*{_ADJ}{_REP_WORD}")),
    ("reps_x_sets", re.compile(rf"{_range('r')}\s*{_ADJ}{_REP_WORD}\s*x\s*{_range('s')}(?!\s*-?\s*{_UNIT}\b)(?!\d)")),
    ("sets_of_reps", re.compile(
        rf"{_range('s')}\s*(?:sets?|rounds?)\s+of\s+{_range('r')}(?!\s*-?\s*{_UNIT}\b)(?!\d)(?:\s*{_ADJ}{_REP_WORD})?")),
    ("duration", re.compile(_DURATION)),
    ("sets", re.compile(rf"{_range('s')}\s*{_ADJ}(?:sets?|circuits?)\b")),
    ("rounds", re.compile(rf"{_range('t')}\s*{_ADJ}rounds?\b")),
    ("sets_label", re.compile(rf"\b(?:sets?|rounds?)\s*[:=]\s*{_range('s')}")),
    ("reps", re.compile(rf"{_range('r')}\s*{_ADJ}{_REP_WORD}")),
    ("reps_label", re.compile(rf"\b(?:reps?|repetitions?)\s*[:=]\s*{_range('r')}")),
    ("breaths", re.compile(rf"{_range('b')}\s*{_ADJ}(?:breaths?|breath cycles?)\b")),
    ("breaths_label", re.compile(rf"\bbreaths?\s*[:=]\s*{_range('b')}")),
    ("times", re.compile(rf"{_range('t')}\s*(?:more\s+)?times\b|(?<![\d.])(?<![\d.] )\bx\s*{_range('u')}\b|"
                         rf"\b{_range('v')}\s*x\b(?!\s*\d)")),
    ("reps_per_side", re.compile(
        rf"(?<![\d.])(?<!x )(?<!at )(?<!of )(?<!under )(?<!over ){_range('r')}\s*{_ADJ}"
        rf"\(?(?:on |to |with |for )?(?:(?:each|per|every|both|the other|either) |/\s*){_SIDE}")),
    ("reps_do", re.compile(
        rf"\b(?:do|perform|complete|aim for|try)\s+(?:about\s+)?{_range('r')}(?=\s*(?:[.,;:!]|$|then\b|and\b))")),
    ("count", re.compile(_COUNT)),
    ("reps_alone", re.compile(rf"^\W*{_range('r')}\W*$")),
]

_PER_SIDE = re.compile(
    r"\b(?:per|each|every)\s+(?:side|leg|hip|knee|foot|arm|direction)s?\b"
    r"|\bon (?:each|both) (?:side|leg|hip)s?\b|\bboth sides\b"
    r"|\b(?:on|to|with) the (?:other|opposite) (?:side|leg|hip|knee|foot)\b|\bthe other side\b"
    r"|\bswitch(?:ing)? (?:to the other )?(?:sides?|legs?|feet|knees?|hips?)\b"
    r"|\b(?:swap|change)\w* (?:sides?|legs?|feet|arms?)\b|\b(?:one|1) side at a time\b|\d\s*/\s*(?:side|leg)\b"
    r"|(?:\b(?:on|for|do|with)|,)\s+both (?:sides|legs)\b|\b(?:each|per|every) (?:way|direction)\b"
    r"|\balternat\w*(?: (?:between|from))?(?: the)? (?:sides?|legs?|arms?|knees?|hips?|feet|right|left)\b"
)

_CONTINUE_BEFORE = re.compile(
    r"\b(?:continue|keep going|keep moving|carry on|go on)\s+(?:\w+\s+){0,3}?(?:for\s+)?"
    r"(?:about\s+|around\s+|up to\s+)?$")
_REST_BEFORE = re.compile(
    r"\b(?:rest|recover|recovery|break|relax)\s+(?:for\s+)?(?:about\s+|around\s+|up to\s+|a\s+|an\s+)?$")
_REST_AFTER = re.compile(r"^\s*(?:of\s+)?(?:rest|recovery|break|between|off)\b")
_NOT_HOLD_BEFORE = re.compile(
    r"\b(?:total|totals|every|within|after|takes?|lasts?|walk|walking|jog|jogging|cardio|sitting|sit|have|got|"
    r"need|spend|spare)"
    r"\s*:?\s*(?:for\s+)?(?:about\s+|around\s+|only\s+)?$")
_NOT_HOLD_AFTER = re.compile(
    r"^\s*(?:a|per|each|every)\s+(?:day|week|month|session)\b|^\s*(?:daily|weekly|in total|total)\b"
    r"|^\s*(?:of\s+)?(?:walking|jogging|cardio|sitting|activity|session|routine|workout)\b")
_TEMPO_AFTER = re.compile(
    r"^\s*(?:per|each|for each|a|for every)\s+(?:rep|repetition)\b"
    r"|^\s*to\s+(?:lower|lift|raise|return|come|rise|roll|curl)\b")
_TEMPO_BEFORE = re.compile(r"(?:\bover|\b(?:each|per|every) (?:rep|repetition)\s+(?:lasts?|takes?))\s+(?:about\s+)?$")
_FREQUENCY_AFTER = re.compile(r"^\s*(?:a|per|each|every)\s+(?:day|week|month)\b|^\s*(?:daily|weekly)\b")


def _pair(m: re.Match[str], name: str, scale: float = 1.0) -> Pair:
    lo = float(m[f"{name}1"])
    hi = float(m[f"{name}2"]) if m[f"{name}2"] else lo
    return _ordered(round(lo * scale), round(hi * scale))


def _seconds(unit: str | None) -> int:
    return 60 if unit and unit.startswith("m") else 1


def _duration(m: re.Match[str]) -> Pair:
    """Seconds of a duration match, each end in its own unit ("30 seconds to 1 minute")."""
    lo = float(m["d1"]) * _seconds(m["u1"] or m["u2"])
    hi = float(m["d2"]) * _seconds(m["u2"]) if m["d2"] else lo
    return _ordered(round(lo), round(hi))


def _clause_before(text: str, start: int) -> str:
    head = text[max(0, start - 60):start]
    return re.split(r"[.;!?\n]", head)[-1]


def _clause_after(text: str, end: int) -> str:
    return re.split(r"[.;!?,\n]", text[end:end + 60])[0]


def _duration_role(text: str, m: re.Match[str]) -> str:
    """What a time in the text is: a 'hold', a 'rest', a 'tempo' (per rep) or 'other'."""
    before, after = _clause_before(text, m.start()), _clause_after(text, m.end())
    if _REST_BEFORE.search(before) or _REST_AFTER.search(after):
        return "rest"
    if _TEMPO_AFTER.search(after) or _TEMPO_BEFORE.search(before):
        return "tempo"
    if _NOT_HOLD_BEFORE.search(before) or _NOT_HOLD_AFTER.search(after):
        return "other"
    if _CONTINUE_BEFORE.search(before):
        return "duration"
    return "hold"


def _within_limit(name: str, pair: Pair | None) -> Pair | None:
    if pair is None or pair[0] <= 0 or pair[1] > LIMITS[name]:
        return None
    return pair


def read_dose(text: str) -> DoseDraft:
    """The dose an instruction text gives; fields it does not give stay None.

    >>> read_dose("Hold 20–30 seconds, then repeat 2–3 times each side.")
    DoseDraft(hold_s=(20, 30), reps=None, sets=(2, 3), breaths=None, per_side=True, seconds_per_rep=None)
    """
    norm = normalize(text)
    found: dict[str, Pair] = {}
    times: Pair | None = None
    tempo: float | None = None
    duration: Pair | None = None
    masked = norm

    def put(name: str, value: Pair) -> None:
        found.setdefault(name, value)

    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(masked):
            if kind in ("times", "rounds"):
                if not _FREQUENCY_AFTER.search(_clause_after(masked, m.end())) and times is None:
                    times = _pair(m, next(n for n in "tuv" if m.groupdict().get(f"{n}1")))
            elif kind == "sets_x_distance":
                put("sets", _pair(m, "s"))
            elif kind == "count":
                if m["noun"] not in _NOT_COUNTED and not _FREQUENCY_AFTER.search(_clause_after(masked, m.end())):
                    put("reps", _pair(m, "c"))
            elif kind == "sets_x_duration":
                if _duration_role(masked, m) == "hold":
                    put("sets", _pair(m, "s"))
                    put("hold_s", _duration(m))
            elif kind in ("sets_x_reps", "sets_of_reps", "reps_x_sets"):
                put("sets", _pair(m, "s"))
                put("reps", _pair(m, "r"))
            elif kind == "start_work_up":
                put("reps", _ordered(round(float(m["a"])), round(float(m["b"]))))
            elif kind == "duration":
                role = _duration_role(masked, m)
                if role == "hold":
                    put("hold_s", _duration(m))
                elif role == "tempo" and tempo is None:
                    tempo = float(_duration(m)[0])
                elif role == "duration" and duration is None:
                    duration = _duration(m)
            elif kind.startswith("sets"):
                put("sets", _pair(m, "s"))
            elif kind.startswith("reps"):
                put("reps", _pair(m, "r"))
            elif kind.startswith("breaths"):
                put("breaths", _pair(m, "b"))
        # Blank out what this pattern read, so a later, looser pattern cannot read it again.
        masked = pattern.sub(lambda m: " " * len(m[0]), masked)

    if times is not None:
        # "hold 5 seconds, 10 times" is 10 reps; "10 seconds, 3 times" or "30 seconds, twice" are sets
        held_reps = "hold_s" in found and found["hold_s"][1] <= SHORT_HOLD_S and times[0] >= MANY_TIMES
        if "sets" not in found and (("hold_s" in found and not held_reps) or "breaths" in found
                                    or duration is not None):
            found["sets"] = times
        elif "reps" not in found:
            found["reps"] = times
        elif "sets" not in found:
            found["sets"] = times

    return DoseDraft(
        hold_s=_within_limit("hold_s", found.get("hold_s")),
        reps=_within_limit("reps", found.get("reps")),
        sets=_within_limit("sets", found.get("sets")),
        breaths=_within_limit("breaths", found.get("breaths")),
        per_side=True if _PER_SIDE.search(norm) else None,
        seconds_per_rep=tempo if tempo and 0 < tempo <= 60 else None,
        duration_s=duration if duration and 0 < duration[0] and duration[1] <= DURATION_LIMIT else None,
    )


def parse_pair(text: str | None) -> Pair | None:
    """A range typed by staff: "30-60", "30–60", "30 to 60" or "30"; empty is None.

    Raises ValueError for anything else, so a form can say which field is wrong.
    """
    if text is None or not str(text).strip():
        return None
    m = re.fullmatch(rf"\s*(\d+)(?:{_SEP}(\d+))?\s*", normalize(str(text)))
    if not m:
        raise ValueError(f"'{text}' is not a number or a range like 30-60")
    lo, hi = int(m[1]), int(m[2] or m[1])
    if lo <= 0:
        raise ValueError(f"'{text}' must be above 0")
    return _ordered(lo, hi)


def dose_spans(text: str) -> list[tuple[int, int]]:
    """Where dose phrases stand in ``normalize(text)``: used to tell a dose-only line from a step."""
    norm = normalize(text)
    spans = [m.span() for _, p in _PATTERNS for m in p.finditer(norm)]
    spans += [m.span() for m in _PER_SIDE.finditer(norm)]
    return spans


_FILLER = re.compile(
    r"\b(?:dose|dosage|hold|holds|for|of|and|then|per|each|side|sides|leg|legs|with|x|do|aim|reps?|sets?|"
    r"repeat|about|around|up|to|the|a|on|rest|between|time|duration|how|long|many|breaths?|seconds?|minutes?|"
    r"prescription|work|your|way|total|perform|complete|try|goal)\b")


def is_dose_only(text: str) -> bool:
    """True for a line that only states a dose ("2 × 30–45 seconds per side", "Dose: 3 x 10")."""
    norm = normalize(text)
    spans = dose_spans(text)
    if not spans:
        return False
    chars = list(norm)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    rest = _FILLER.sub(" ", "".join(chars))
    return len(re.findall(r"[a-z]{2,}", rest)) <= 1
