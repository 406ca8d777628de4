"""The warning-sign vocabulary: which words in a session note are a warning sign, for whom, how urgent.

The vocabulary is data (``data/red_flags/*.yaml``, format in docs/practice/safety-rules.md): each sign
has an id, a label, a group (ACOG pregnancy sign, cauda equina, other NICE red flag, nerve sign),
its levels (for everyone, and for a client who is pregnant on the session date or within six weeks
after), the phrases and common misspellings that find it, and ordinary uses that only look alike
("chest stretch", "nosebleed"). A practice adds phrases in its own language as another file; a sign
id that is already known then gains the new file's phrases. The same vocabulary prints the stop list
on the pregnancy handout, so the handout and the alerts cannot disagree.

The vocabulary lives here, on the practice floor, because both the handout (core/practice) and the
session-log tagger (core/sessions/red_flags.py) read it. It compiles to RE2 patterns, matched once
per distinct note (a file of a million rows holds far fewer distinct notes).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.library.content import ContentError, ContentProblem, data_dir
from core.practice.pregnancy import POSTPARTUM_DAYS, PREGNANCY_DAYS, pregnancy_sql

Level = Literal["critical", "high", "medium", "low"]
LEVELS: tuple[Level, ...] = ("critical", "high", "medium", "low")  # most urgent first
Group = Literal["pregnancy", "cauda_equina", "serious_pathology", "nerve"]
GROUPS: dict[str, str] = {
    "pregnancy": "Pregnancy warning signs (ACOG Committee Opinion 804)",
    "cauda_equina": "Possible cauda equina (NICE CKS low back pain)",
    "serious_pathology": "Other red flags for a serious cause of back pain (NICE CKS)",
    "nerve": "Nerve signs and sharp pain (NICE CKS)",
}
NEGATED_PREFIX = "no_"   # "no dizziness" is stored as the low tag no_dizziness, shown on the note

_TOKEN = re.compile(r"^(?:\.\.\.|<[a-z_]+>|[a-z0-9'&_*-]+(?:/[a-z0-9'&_*-]+)*\??)$")
_GAP = r"\W+(?:\w+\W+){0,3}"            # "..." in a phrase: up to three other words
_SEP = r"\W+"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignLevels(_Strict):
    everyone: Level
    pregnant: Level | None = None


class SignSpec(_Strict):
    """One sign as written in a vocabulary file; a known id needs only phrases (it extends the sign)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    label: str | None = Field(default=None, min_length=1, max_length=80)
    group: Group | None = None
    levels: SignLevels | None = None
    stop_sign: str | None = Field(default=None, min_length=1, max_length=120)
    phrases: list[str] = []
    misspellings: list[str] = []
    ordinary: list[str] = []


class Negation(_Strict):
    before: list[str] = []
    fillers: list[str] = []
    after: list[str] = []
    after_fillers: list[str] = []


class VocabularyFile(_Strict):
    words: dict[str, str] = {}
    negation: Negation = Negation()
    signs: list[SignSpec] = []

    @field_validator("words")
    @classmethod
    def _word_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[a-z_]+", name):
                raise ValueError(f"word list name '{name}' must be lower-case letters and _")
        return value


@dataclass(frozen=True)
class Sign:
    """A warning sign, merged from every vocabulary file that names it, with its compiled patterns.

    ``pattern`` finds the sign, ``ordinary`` (or None) finds look-alike uses removed first, and
    ``negated`` finds "no X", "without X", "X-free", "X gone" (a low tag, not an alert).
    """

    id: str
    label: str
    group: str
    everyone: Level
    pregnant: Level | None
    stop_sign: str | None
    pattern: str
    ordinary: str | None
    negated: str

    def level(self, pregnant: bool) -> Level:
        """The sign's level for a client who is (or is not) pregnant or up to six weeks after."""
        return self.pregnant if pregnant and self.pregnant is not None else self.everyone

    def pregnancy_sign(self, pregnant: bool) -> bool:
        """Whether the sign is worded as a pregnancy warning sign for this client."""
        return pregnant and self.group == "pregnancy"


@dataclass(frozen=True)
class Vocabulary:
    signs: tuple[Sign, ...]
    fingerprint: str

    def by_id(self) -> dict[str, Sign]:
        return {s.id: s for s in self.signs}

    def stop_signs(self) -> tuple[str, ...]:
        """What a pregnant client is told to stop for, in vocabulary order (the handout's list)."""
        return tuple(s.stop_sign for s in self.signs if s.stop_sign)


def normalise(text: str) -> str:
    """Lower case, accents and apostrophes dropped: how notes and phrases are compared."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"['\u2019\u2018`]", "", plain)


def _word(alternative: str) -> str:
    body = re.escape(alternative.rstrip("*")).replace("_", r"\W*").replace(r"\-", r"\W*")
    return body + (r"\w*" if alternative.endswith("*") else "")


def phrase_pattern(phrase: str, words: dict[str, str]) -> str:
    """The RE2 pattern of one phrase (syntax in data/red_flags/english.yaml); ValueError if malformed."""
    tokens = normalise(phrase).split()
    if not tokens or tokens[0] == "..." or tokens[-1] == "...":
        raise ValueError(f"'{phrase}' must start and end with a word")
    parts: list[str] = []
    separator = ""
    for token in tokens:
        if not _TOKEN.match(token):
            raise ValueError(f"'{phrase}': '{token}' may use only letters, digits, ', &, -, _, *, / and ?")
        if token == "...":
            separator = _GAP
            continue
        optional = token.endswith("?")
        token = token.rstrip("?")
        if token.startswith("<"):
            name = token[1:-1]
            if name not in words:
                raise ValueError(f"'{phrase}': no word list named <{name}>")
            token = words[name]
        body = "(?:" + "|".join(_word(a) for a in token.split("/")) + ")"
        if not parts:
            if optional:
                raise ValueError(f"'{phrase}' must not start with an optional word")
            parts.append(body)
        else:
            sep = separator or _SEP
            parts.append(f"(?:{sep}{body})?" if optional else sep + body)
        separator = ""
    return r"\b" + "".join(parts) + r"\b"


def _any_of(patterns: list[str]) -> str:
    return "(?:" + "|".join(patterns) + ")"


def _negated_pattern(sign: str, negation: Negation) -> str:
    before = _any_of([re.escape(w) for w in negation.before])
    fillers = _any_of([re.escape(w) for w in negation.fillers] + [r"\w+(?:\W+\w+)?\W+(?:or|nor)"])
    after = _any_of([re.escape(w).replace(r"\ ", r"\W+") for w in negation.after])
    after_fillers = _any_of([re.escape(w) for w in negation.after_fillers])
    return (rf"\b{before}\W+(?:{fillers}\W+){{0,3}}{sign}"
            rf"|{sign}\W*(?:{after_fillers}\W+){{0,2}}{after}\b")


def _problem(file: str, field: str, message: str) -> ContentError:
    return ContentError([ContentProblem(file, field, message)])


def parse_vocabulary(files: list[tuple[str, bytes]]) -> Vocabulary:
    """Merge and compile vocabulary files (name, bytes), in order; ContentError names file and field."""
    problems: list[ContentProblem] = []
    parsed: list[tuple[str, VocabularyFile]] = []
    for name, raw in files:
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(ContentProblem(name, "(file)", f"not readable YAML: {exc}"))
            continue
        try:
            parsed.append((name, VocabularyFile.model_validate(data or {})))
        except ValidationError as exc:
            problems.extend(ContentProblem(name, ".".join(str(p) for p in e["loc"]) or "(file)",
                                           e["msg"].removeprefix("Value error, ")) for e in exc.errors())
    words: dict[str, str] = {}
    negation = Negation()
    for _, vocabulary in parsed:
        words |= {k: normalise(v) for k, v in vocabulary.words.items()}
        negation = Negation(**{f: getattr(negation, f) + [normalise(w) for w in getattr(vocabulary.negation, f)]
                               for f in Negation.model_fields})
    merged: dict[str, dict] = {}
    for name, vocabulary in parsed:
        for i, spec in enumerate(vocabulary.signs):
            where = f"signs.{i}"
            found = merged.get(spec.id)
            if found is None:
                missing = [f for f in ("label", "group", "levels") if getattr(spec, f) is None]
                if missing:
                    problems.append(ContentProblem(name, f"{where}.{missing[0]}",
                                                   f"a new sign '{spec.id}' needs a {missing[0]}"))
                    continue
                found = merged[spec.id] = {"spec": spec, "phrases": [], "ordinary": []}
            elif any(getattr(spec, f) is not None for f in ("label", "group", "levels", "stop_sign")):
                problems.append(ContentProblem(name, f"{where}.id", f"'{spec.id}' is already defined: a further "
                                               "file may only add phrases, misspellings and ordinary uses"))
                continue
            for field_name, target in (("phrases", "phrases"), ("misspellings", "phrases"), ("ordinary", "ordinary")):
                for j, phrase in enumerate(getattr(spec, field_name)):
                    try:
                        found[target].append(phrase_pattern(phrase, words))
                    except ValueError as exc:
                        problems.append(ContentProblem(name, f"{where}.{field_name}.{j}", str(exc)))
    if not merged and not problems:
        problems.append(ContentProblem("red_flags", "(folder)", "no warning signs defined"))
    for sign_id, found in merged.items():
        if not found["phrases"]:
            problems.append(ContentProblem("red_flags", f"{sign_id}.phrases", "the sign has no phrases"))
    if problems:
        raise ContentError(problems)
    if not negation.before or not negation.after:
        raise _problem("red_flags", "negation", "needs words before (no, not ...) and after (free, gone ...)")
    signs = []
    for sign_id, found in merged.items():
        spec: SignSpec = found["spec"]
        pattern = _any_of(found["phrases"])
        signs.append(Sign(sign_id, spec.label, spec.group, spec.levels.everyone, spec.levels.pregnant,
                          spec.stop_sign, pattern, _any_of(found["ordinary"]) if found["ordinary"] else None,
                          _negated_pattern(pattern, negation)))
    digest = hashlib.sha256(b"\0".join(n.encode() + b"\0" + r for n, r in files)).hexdigest()[:16]
    return Vocabulary(tuple(signs), digest)


def _vocabulary_paths(folder: Path | None = None) -> list[Path]:
    """The vocabulary files, english.yaml first, then the practice's own files by name."""
    folder = folder or data_dir() / "red_flags"
    return sorted(folder.glob("*.yaml"), key=lambda p: (p.name != "english.yaml", p.name))


def vocabulary_files(folder: Path | None = None) -> list[tuple[str, bytes]]:
    """The vocabulary files' names and contents, in the order they merge."""
    return [(f"red_flags/{p.name}", p.read_bytes()) for p in _vocabulary_paths(folder)]


@lru_cache(maxsize=4)
def _parsed(files_seen: tuple[tuple[str, int, int], ...]) -> Vocabulary:
    """The vocabulary of the files as they are when ``files_seen`` (path, size, mtime) was taken."""
    return parse_vocabulary([(f"red_flags/{Path(path).name}", Path(path).read_bytes()) for path, _, _ in files_seen])


def vocabulary() -> Vocabulary:
    """The practice's vocabulary, read from disk again only when a file's size or time changed
    (the alerts word hundreds of notes a page: reading every file for each cost more than them)."""
    seen = []
    for path in _vocabulary_paths():
        stat = path.stat()
        seen.append((str(path), stat.st_size, stat.st_mtime_ns))
    return _parsed(tuple(seen))


# -- tagging notes and judging tags -------------------------------------------------------------

_REGEX_MEMORY = 64 << 20  # bytes per pattern; RE2's default 8 MB makes the all-signs pattern fall back to a slow path


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re2._Regexp:
    """A compiled RE2 pattern (the engine DuckDB's regexp functions use), once per process, with
    room for the DFA of the longest one (all signs at once) and no logging to stderr."""
    options = re2.Options()
    options.max_mem = _REGEX_MEMORY
    options.log_errors = False
    return re2.compile(pattern, options)


def note_tags(note: str | None, vocab: Vocabulary) -> str | None:
    """The comma-separated tags of ``note`` (None when none): a sign's id when the note mentions it,
    ``no_<id>`` when it only mentions it negated ("no dizziness"), in vocabulary order.

    RE2 matches in time linear in the note whatever the pattern, so a hostile note cannot stall
    an import. Callers tag each distinct note once (``core.sessions.red_flags.tag_rows``): compiling
    every pattern into one SQL expression cost DuckDB about 0.8 s of planning per statement.
    """
    if note is None:
        return None
    text = normalise(note)
    if not _regex(_any_of([s.pattern for s in vocab.signs])).search(text):
        return None
    found = []
    for sign in vocab.signs:
        if not _regex(sign.pattern).search(text):
            continue
        plain = text if sign.ordinary is None else _regex(sign.ordinary).sub(" ", text)
        if _regex(sign.pattern).search(_regex(sign.negated).sub(" ", plain)):
            found.append(sign.id)
        elif _regex(sign.negated).search(plain):
            found.append(NEGATED_PREFIX + sign.id)
    return ",".join(found) or None


def pregnancy_window_sql(client: str, on: str) -> str:
    """SQL: the client is pregnant on ``on`` or it is less than six weeks after the pregnancy ended."""
    end = pregnancy_sql(client, on)["end"]
    return (f"coalesce({client}.due_date IS NOT NULL AND {on} >= {client}.due_date - {PREGNANCY_DAYS}"
            f" AND {on} < {end} + {POSTPARTUM_DAYS}, FALSE)")


def level_sql(tags_sql_expr: str, pregnant_sql: str, vocab: Vocabulary) -> str:
    """SQL giving the most urgent level of the stored tags for a client who is (not) pregnant."""
    wrapped = f"(',' || {tags_sql_expr} || ',')"
    cases = []
    for level in LEVELS[:-1]:
        everyone = [s.id for s in vocab.signs if s.everyone == level]
        pregnant = [s.id for s in vocab.signs if s.pregnant == level]
        tests = []
        if everyone:
            tests.append(f"regexp_matches({wrapped}, ',(?:{'|'.join(everyone)}),')")
        if pregnant:
            tests.append(f"({pregnant_sql} AND regexp_matches({wrapped}, ',(?:{'|'.join(pregnant)}),'))")
        if tests:
            cases.append(f"WHEN {' OR '.join(tests)} THEN '{level}'")
    return f"CASE WHEN {tags_sql_expr} IS NULL THEN NULL {' '.join(cases)} ELSE 'low' END"


def judge_session_logs_sql(where: str, vocab: Vocabulary) -> str:
    """An UPDATE setting the level and pregnancy context of the ``session_logs`` rows matching
    ``where`` (columns of session_logs ``s``) from their stored tags and the client on each session's
    date: run when tags are written and when a client's pregnancy fields change."""
    pregnant = pregnancy_window_sql("c", "s.session_date")
    return (f"UPDATE session_logs s SET red_flag_pregnant = {pregnant},"
            f" red_flag_level = {level_sql('s.red_flags', pregnant, vocab)}"
            f" FROM clients c WHERE c.id = s.client_id AND ({where})")
