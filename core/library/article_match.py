"""Match an exercise name read from an article to the library's names and aliases.

Articles name the same movement in many ways ("Kneeling Lunge Stretch (Hip Flexor Stretch)" is
the library's kneeling hip flexor stretch, listed there under the alias "Kneeling lunge stretch"),
so staff should be offered a merge instead of a duplicate.

Score (0..1): the best, over every name of the draft and every name, alias and id of a library
entry, of
- a weighted Dice overlap of the words (lower-cased, plural and -ing endings cut, filler words
  dropped); words every psoas article uses ("psoas", "stretch", "exercise", "pose", ...) weigh
  0.3 so that "Psoas stretch" alone does not match every psoas stretch. It counts only when every
  distinctive word of the draft's name is in the library name: a draft may say less ("Hip flexor
  stretch" is the kneeling hip flexor stretch) but not more ("Glute bridge march" and "Standing
  hip flexor stretch" are other exercises than "Glute bridge" and "Hip flexor stretch");
- 0.9 × the character similarity of the distinctive words only (catches "clam shell" vs
  "clamshell" and small typos, without "supine" and "seated" looking alike).
A draft matches the best-scoring entry when the score is at least ``MATCH_THRESHOLD`` (0.75):
the exact name or an alias scores 1.0; a library name with one more distinctive word than the
draft's three or four still matches (about 0.8); one distinctive word swapped for another does not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

MATCH_THRESHOLD = 0.75
GENERIC_WEIGHT = 0.3

_STOP = {"the", "a", "an", "and", "with", "for", "of", "on", "in", "to", "your", "you", "my", "this", "at",
         "or", "into", "from", "by"}
_GENERIC = {"psoa", "stretch", "exercise", "muscle", "variation", "pose", "movement", "move", "drill",
            "simple", "basic", "gentle", "easy", "dynamic", "static", "version", "modified"}


@dataclass(frozen=True)
class LibraryEntry:
    """What matching needs to know of one library exercise."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases, self.id.replace("-", " "))


@dataclass(frozen=True)
class LibraryMatch:
    exercise_id: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"exercise_id": self.exercise_id, "score": self.score}


def as_library_entries(items: Iterable[Any]) -> list[LibraryEntry]:
    """Library entries from LibraryEntry objects, dicts or objects with id/name/aliases.

    Lets callers pass what they have (the library's dicts, content models) without this module
    depending on the store.
    """
    entries = []
    for item in items:
        if isinstance(item, LibraryEntry):
            entries.append(item)
            continue
        get = item.get if isinstance(item, dict) else (lambda key, default=None, obj=item: getattr(obj, key, default))
        aliases = get("aliases", ()) or ()
        if isinstance(aliases, str):
            aliases = [a.strip() for a in aliases.split(",") if a.strip()]
        entries.append(LibraryEntry(str(get("id")), str(get("name")), tuple(str(a) for a in aliases)))
    return entries


def _stem(word: str) -> str:
    if word.endswith("ing") and len(word) > 5:
        return word[:-3]
    if word.endswith("es") and word[:-2].endswith(("ch", "sh", "x", "ss")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def name_tokens(name: str) -> tuple[str, ...]:
    """The words of a name as matching sees them: lower-case, stemmed, without filler words."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("'s", "")
    return tuple(_stem(w) for w in re.findall(r"[a-z0-9]+", text) if w not in _STOP)


def _weight(token: str) -> float:
    return GENERIC_WEIGHT if token in _GENERIC else 1.0


def similarity(a: str, b: str) -> float:
    """How well the name ``a`` (from an article) fits the library name ``b``, 0..1 (see the
    module docstring)."""
    ta, tb = set(name_tokens(a)), set(name_tokens(b))
    if not ta or not tb:
        return 0.0
    total = sum(map(_weight, ta)) + sum(map(_weight, tb))
    says_more = any(t not in tb and t not in _GENERIC for t in ta)
    dice = 0.0 if says_more else 2 * sum(_weight(t) for t in ta & tb) / total
    da = " ".join(t for t in name_tokens(a) if t not in _GENERIC)
    db = " ".join(t for t in name_tokens(b) if t not in _GENERIC)
    chars = 0.9 * SequenceMatcher(None, da, db).ratio() if da and db else 0.0
    return round(min(1.0, max(dice, chars)), 3)


def best_match(names: Sequence[str], candidates: Sequence[tuple[str, Sequence[str]]],
               threshold: float = MATCH_THRESHOLD) -> tuple[str, float] | None:
    """The (key, score) of the candidate whose names best match ``names``, if above threshold.

    Ties go to the earlier candidate, so the result does not depend on anything but the input.
    """
    best: tuple[str, float] | None = None
    for key, cand_names in candidates:
        score = max((similarity(n, c) for n in names if n for c in cand_names if c), default=0.0)
        if score >= threshold and (best is None or score > best[1]):
            best = (key, score)
    return best


def match_library(names: Sequence[str], library: Iterable[Any]) -> LibraryMatch | None:
    """The library exercise these names (a draft's name and aliases) refer to, or None."""
    entries = as_library_entries(library)
    found = best_match(names, [(e.id, e.names()) for e in entries])
    return LibraryMatch(found[0], found[1]) if found else None
