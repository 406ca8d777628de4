"""Exercise and routine-template content files: parse, validate, and sync into the store.

Content is data that staff read and edit, so every problem is reported with the file and the
field, one bad file never stops the others, and an unchanged file costs one hash comparison.
The file format is described in docs/library/content-format.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.db.store import LIBRARY, Store, utcnow

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def data_dir() -> Path:
    """The content folder: ``ROUTINE_DESK_DATA`` when set (a practice's own copy), else data/."""
    return Path(os.environ.get("ROUTINE_DESK_DATA") or DATA_DIR)

Kind = Literal["static_stretch", "dynamic_stretch", "strength", "mobility", "release"]
Position = Literal[
    "kneeling", "half_kneeling", "supine", "prone", "side_lying", "all_fours", "standing", "seated",
    "lunge", "inclined",   # inclined: lying on the back propped up on a wedge or pillows
]
Target = Literal[
    "psoas", "iliacus", "hip_flexors", "quadriceps", "glutes", "hamstrings", "adductors",
    "hip_rotators", "core", "obliques", "lower_back", "spine", "thoracic_spine", "hip_joint",
]
Caution = Literal[
    "supine", "prone", "kneeling", "end_range_hip", "balance", "abdominal_load", "deep_hip_flexion",
    "knee_twist",   # a bent knee turned under load (pigeon's front knee)
]
Audience = Literal["pregnant", "runner", "desk_worker"]
RoutineAudience = Literal["general", "pregnant", "runner", "desk_worker"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# What staff read for the vocabularies above; content files, URL filters and CSV keep the codes.
LIBRARY_LABELS: dict[str, str] = {
    "static_stretch": "Static stretch", "dynamic_stretch": "Dynamic stretch", "strength": "Strength",
    "mobility": "Mobility", "release": "Release",
    "kneeling": "Kneeling", "half_kneeling": "Half-kneeling", "supine": "Lying on the back",
    "prone": "Lying face down", "side_lying": "Lying on the side", "all_fours": "On all fours",
    "standing": "Standing", "seated": "Seated", "lunge": "Lunge",
    "psoas": "Psoas", "iliacus": "Iliacus", "hip_flexors": "Hip flexors", "quadriceps": "Quadriceps",
    "glutes": "Glutes", "hamstrings": "Hamstrings", "adductors": "Adductors", "hip_rotators": "Hip rotators",
    "core": "Core", "obliques": "Obliques", "lower_back": "Lower back", "spine": "Spine",
    "thoracic_spine": "Upper back (thoracic spine)", "hip_joint": "Hip joint",
    "end_range_hip": "Hip at the end of its range", "balance": "Balance", "abdominal_load": "Load on the belly",
    "deep_hip_flexion": "Deep hip bend",
    "general": "General", "pregnant": "Pregnant", "runner": "Runner", "desk_worker": "Desk worker",
}


def library_label(code: str) -> str:
    """The label of a kind, position, target, caution or audience code (the code itself if unknown)."""
    return LIBRARY_LABELS.get(code, code)

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]

# Sane upper bounds for a home-exercise dose; anything beyond is a typo, not a prescription.
DOSE_LIMITS = {"hold_s": 600, "reps": 100, "sets": 10, "breaths": 30}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """An inclusive [min, max] range as written in a dose: ``[30, 60]``."""

    min: int
    max: int

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError("must be a [min, max] pair")
            return {"min": value[0], "max": value[1]}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"min": value, "max": value}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min <= 0:
            raise ValueError("must be greater than 0")
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    @property
    def mid(self) -> float:
        return (self.min + self.max) / 2

    def as_list(self) -> list[int]:
        return [self.min, self.max]


class Dose(_Strict):
    """How much of an exercise: holds, reps, sets or breaths, and whether on each side.

    In a routine item every field is optional: a field left out (None) falls back to the
    exercise's own dose.
    """

    hold_s: Range | None = None
    reps: Range | None = None
    sets: Range | None = None
    breaths: Range | None = None
    per_side: bool | None = None
    seconds_per_rep: float | None = Field(default=None, gt=0, le=60)

    @model_validator(mode="after")
    def _within_limits(self) -> Dose:
        for name, limit in DOSE_LIMITS.items():
            value = getattr(self, name)
            if value is not None and value.max > limit:
                raise ValueError(f"{name} max {value.max} is above the limit of {limit}")
        return self


class ExerciseDose(Dose):
    @model_validator(mode="after")
    def _complete(self) -> ExerciseDose:
        if self.hold_s is None and self.reps is None and self.breaths is None:
            raise ValueError("needs at least one of hold_s, reps or breaths")
        if self.per_side is None:
            raise ValueError("per_side must be true or false")
        if self.reps is not None and self.seconds_per_rep is None:
            raise ValueError("seconds_per_rep is required when reps is set")
        return self


class Source(_Strict):
    title: str = Field(min_length=1)
    url: str | None = None


class ExerciseMeta(_Strict):
    """The YAML front matter of an exercise file."""

    id: Slug
    name: str = Field(min_length=1, max_length=120)
    aliases: list[str] = []
    kind: Kind
    targets: list[Target] = Field(min_length=1)
    position: Position
    equipment: list[str] = []
    dose: ExerciseDose
    cautions: list[Caution]
    audiences: list[Audience]
    sources: list[Source] = Field(min_length=1)
    summary: str | None = None


@dataclass(frozen=True)
class Exercise:
    """A validated exercise: front matter plus the sections of its Markdown body."""

    meta: ExerciseMeta
    steps: list[str]
    cues: list[str]
    mistakes: list[str]
    source_file: str
    content_hash: str

    @property
    def id(self) -> str:
        return self.meta.id


class Schedule(_Strict):
    sessions_per_week: int | None = Field(default=None, ge=1, le=21)
    weekdays: list[Weekday] | None = None
    times_per_day: int = Field(default=1, ge=1, le=8)
    weeks: int = Field(ge=1, le=52)

    @model_validator(mode="after")
    def _has_frequency(self) -> Schedule:
        if self.sessions_per_week is None and not self.weekdays:
            raise ValueError("needs sessions_per_week or weekdays")
        return self

    @property
    def weekly_sessions(self) -> int:
        """Sessions a week: the weekday count when days are fixed, times the sessions a day."""
        per_week = len(self.weekdays) if self.weekdays else self.sessions_per_week
        return min(21, per_week * self.times_per_day)


class RoutineItem(_Strict):
    exercise: Slug
    slot: str | None = None
    dose: Dose | None = None
    note: str | None = None


class RoutineTemplate(_Strict):
    """A routine template file under data/routines."""

    id: Slug
    name: str = Field(min_length=1, max_length=120)
    audience: RoutineAudience
    description: str = Field(min_length=1)
    schedule: Schedule
    sources: list[Source] = []
    items: list[RoutineItem] = Field(min_length=1)


@dataclass(frozen=True)
class ContentProblem:
    """One thing wrong with one content file, phrased so staff can fix it."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass
class LoadReport:
    """What a library sync did: counts per outcome, and every problem found."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[ContentProblem] = field(default_factory=list)

    @property
    def skipped_files(self) -> list[str]:
        return sorted({p.file for p in self.problems})

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "removed": self.removed,
            "problems": [p.__dict__ for p in self.problems],
        }


class ContentError(ValueError):
    def __init__(self, problems: list[ContentProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# -- parsing -----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.DOTALL)
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*\S)\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*\S)\s*$")
_SECTIONS = {"steps": "steps", "cues": "cues", "common mistakes": "mistakes", "mistakes": "mistakes"}


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _problems_from(file: str, error: ValidationError) -> list[ContentProblem]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(file)"
        problems.append(ContentProblem(file, where, item["msg"].removeprefix("Value error, ")))
    return problems


def _utf8(file: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError([ContentProblem(file, "(file)", f"not UTF-8 text: {exc}")]) from exc


def _yaml_mapping(file: str, text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContentError([ContentProblem(file, where, f"invalid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ContentError([ContentProblem(file, where, "must be a mapping of fields")])
    return data


def _validated(model: type[_Strict], file: str, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContentError(_problems_from(file, exc)) from exc


def _body_sections(body: str) -> dict[str, list[str]]:
    """Split the Markdown body into its known sections, one entry per list item."""
    sections: dict[str, list[str]] = {"steps": [], "cues": [], "mistakes": []}
    parts = _HEADING.split(body)
    for heading, text in zip(parts[1::2], parts[2::2]):
        key = _SECTIONS.get(heading.strip().lower())
        if key is None:
            continue
        pattern = _NUMBERED if key == "steps" else _BULLET
        for line in text.splitlines():
            match = pattern.match(line)
            if match:
                sections[key].append(match[1])
            elif line.strip() and sections[key] and line.startswith((" ", "\t")):
                sections[key][-1] += " " + line.strip()
    return sections


def parse_exercise(file: str, raw: bytes) -> Exercise:
    """Parse and validate one exercise file; raises ContentError naming file and field."""
    text = _utf8(file, raw)
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ContentError([ContentProblem(file, "(front matter)", "must start with a --- YAML block ---")])
    meta = _validated(ExerciseMeta, file, _yaml_mapping(file, match[1], "(front matter)"))
    problems = []
    if Path(file).stem != meta.id:
        problems.append(ContentProblem(file, "id", f"'{meta.id}' does not match the file name"))
    sections = _body_sections(match[2])
    if not sections["steps"]:
        problems.append(ContentProblem(file, "body.steps", "needs a '## Steps' section with numbered steps"))
    if problems:
        raise ContentError(problems)
    return Exercise(meta, sections["steps"], sections["cues"], sections["mistakes"], file, content_hash(raw))


def parse_routine(file: str, raw: bytes, exercise_ids: set[str]) -> RoutineTemplate:
    """Parse and validate one routine template; every item must name a known exercise."""
    text = _utf8(file, raw)
    template = _validated(RoutineTemplate, file, _yaml_mapping(file, text, "(file)"))
    problems = [
        ContentProblem(file, f"items.{i}.exercise", f"unknown exercise id '{item.exercise}'")
        for i, item in enumerate(template.items)
        if item.exercise not in exercise_ids
    ]
    if Path(file).stem != template.id:
        problems.append(ContentProblem(file, "id", f"'{template.id}' does not match the file name"))
    if problems:
        raise ContentError(problems)
    return template


# -- syncing into the store --------------------------------------------------------------------

def _relative(path: Path, data_dir: Path) -> str:
    return path.relative_to(data_dir.parent).as_posix() if data_dir.parent in path.parents else str(path)


def _known_hashes(store: Store, kind: str) -> dict[str, str]:
    return dict(store.rows("SELECT path, content_hash FROM content_files WHERE kind = ? AND status = 'ok'", [kind]))


def _record_file(cur: Any, path: str, kind: str, digest: str, item_id: str | None,
                 problems: list[ContentProblem]) -> None:
    cur.execute("DELETE FROM content_files WHERE path = ?", [path])
    cur.execute(
        "INSERT INTO content_files VALUES (?, ?, ?, ?, ?, ?, ?)",
        [path, kind, digest, item_id, "error" if problems else "ok",
         json.dumps([p.__dict__ for p in problems]) if problems else None, utcnow()],
    )


def _dose_columns(dose: Dose | None) -> list[Any]:
    def pair(r: Range | None) -> list[Any]:
        return [r.min, r.max] if r else [None, None]

    if dose is None:
        return [None] * 10
    return [*pair(dose.hold_s), *pair(dose.reps), *pair(dose.sets), *pair(dose.breaths),
            dose.per_side, dose.seconds_per_rep]


def _write_exercise(cur: Any, ex: Exercise) -> None:
    m = ex.meta
    for table, key in (("exercises", "id"), ("exercise_tags", "exercise_id"), ("exercise_sources", "exercise_id")):
        cur.execute(f"DELETE FROM {table} WHERE {key} = ?", [m.id])
    cur.execute(
        "INSERT INTO exercises VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?)",
        [m.id, m.name, m.kind, m.position, m.summary, *_dose_columns(m.dose)[:8],
         m.dose.per_side, m.dose.seconds_per_rep, json.dumps(ex.steps), json.dumps(ex.cues),
         json.dumps(ex.mistakes), ex.source_file, ex.content_hash, utcnow()],
    )
    tags = [("alias", v) for v in m.aliases] + [("target", v) for v in m.targets] + \
        [("equipment", v) for v in m.equipment] + [("caution", v) for v in m.cautions] + \
        [("audience", v) for v in m.audiences]
    unique_tags = sorted(set(tags))
    if unique_tags:
        cur.executemany("INSERT INTO exercise_tags VALUES (?, ?, ?)", [[m.id, f, v] for f, v in unique_tags])
    cur.executemany(
        "INSERT INTO exercise_sources VALUES (?, ?, ?, ?)",
        [[m.id, i, s.title, s.url] for i, s in enumerate(m.sources)],
    )


def _write_routine_template(cur: Any, template: RoutineTemplate, file: str, digest: str) -> None:
    """Store a template as a routine; a changed template becomes a new version, so clients
    already assigned an older version keep exactly what they were given."""
    row = cur.execute("SELECT current_version FROM routines WHERE id = ?", [template.id]).fetchone()
    version = 1 if row is None else row[0] + 1
    if row is None:
        cur.execute(
            "INSERT INTO routines VALUES (?, ?, ?, ?, 'template', ?, ?, NULL, ?)",
            [template.id, template.name, template.audience, template.description, file, version, utcnow()],
        )
    else:
        cur.execute(
            "UPDATE routines SET name = ?, audience = ?, description = ?, source_file = ?,"
            " current_version = ? WHERE id = ?",
            [template.name, template.audience, template.description, file, version, template.id],
        )
    s = template.schedule
    cur.execute(
        "INSERT INTO routine_versions VALUES (?, ?, ?, ?, ?, ?, ?, 'content', ?)",
        [template.id, version, s.weekly_sessions, ",".join(s.weekdays) if s.weekdays else None,
         s.times_per_day, s.weeks, digest, utcnow()],
    )
    cur.executemany(
        "INSERT INTO routine_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[template.id, version, i, item.exercise, item.slot, *_dose_columns(item.dose), item.note]
         for i, item in enumerate(template.items)],
    )


def sync_library(store: Store, folder: Path | None = None) -> LoadReport:
    """Bring the store in line with the content files under ``data_dir``.

    Unchanged files (same SHA-256) are skipped; changed ones replace their rows; a file that no
    longer validates keeps its last good version in the store and is reported; an exercise whose
    file was deleted is marked inactive rather than deleted, because routines may still use it.
    """
    folder = folder or data_dir()
    report = LoadReport()
    _sync_exercises(store, folder / "exercises", report)
    _sync_routines(store, folder / "routines", report)
    return report


def _sync_exercises(store: Store, folder: Path, report: LoadReport) -> None:
    known = _known_hashes(store, "exercise")
    seen_ids: dict[str, str] = {}
    files = sorted(folder.glob("*.md")) if folder.is_dir() else []
    for path in files:
        rel = _relative(path, folder.parent)
        raw = path.read_bytes()
        digest = content_hash(raw)
        if known.get(rel) == digest:
            report.unchanged.append(rel)
            seen_ids[Path(rel).stem] = rel
            continue
        try:
            exercise = parse_exercise(rel, raw)
            if exercise.id in seen_ids:
                raise ContentError([ContentProblem(rel, "id", f"'{exercise.id}' is also used by {seen_ids[exercise.id]}")])
        except ContentError as exc:
            report.problems.extend(exc.problems)
            with store.transaction(touches=(LIBRARY,)) as cur:
                _record_file(cur, rel, "exercise", digest, None, exc.problems)
            continue
        seen_ids[exercise.id] = rel
        is_new = store.scalar("SELECT count(*) FROM exercises WHERE id = ?", [exercise.id]) == 0
        with store.transaction(touches=(LIBRARY,)) as cur:
            _write_exercise(cur, exercise)
            _record_file(cur, rel, "exercise", digest, exercise.id, [])
        (report.added if is_new else report.updated).append(exercise.id)
    present = {path.stem for path in files}
    gone = [i for (i,) in store.rows("SELECT id FROM exercises WHERE active") if i not in present]
    if gone:
        with store.transaction(touches=(LIBRARY,)) as cur:
            cur.executemany("UPDATE exercises SET active = FALSE WHERE id = ?", [[i] for i in gone])
        report.removed.extend(gone)
    _forget_missing_files(store, "exercise", {_relative(p, folder.parent) for p in files})


def _forget_missing_files(store: Store, kind: str, present: set[str]) -> None:
    missing = [p for (p,) in store.rows("SELECT path FROM content_files WHERE kind = ?", [kind]) if p not in present]
    if missing:
        with store.transaction(touches=(LIBRARY,)) as cur:
            cur.executemany("DELETE FROM content_files WHERE path = ?", [[p] for p in missing])


def _sync_routines(store: Store, folder: Path, report: LoadReport) -> None:
    known = _known_hashes(store, "routine")
    exercise_ids = {i for (i,) in store.rows("SELECT id FROM exercises WHERE active")}
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    for path in files:
        rel = _relative(path, folder.parent)
        raw = path.read_bytes()
        digest = content_hash(raw)
        if known.get(rel) == digest:
            report.unchanged.append(rel)
            continue
        try:
            template = parse_routine(rel, raw, exercise_ids)
        except ContentError as exc:
            report.problems.extend(exc.problems)
            with store.transaction(touches=(LIBRARY,)) as cur:
                _record_file(cur, rel, "routine", digest, None, exc.problems)
            continue
        is_new = store.scalar("SELECT count(*) FROM routines WHERE id = ?", [template.id]) == 0
        with store.transaction(touches=(LIBRARY,)) as cur:
            _write_routine_template(cur, template, rel, digest)
            _record_file(cur, rel, "routine", digest, template.id, [])
        (report.added if is_new else report.updated).append(f"routine:{template.id}")
    _forget_missing_files(store, "routine", {_relative(p, folder.parent) for p in files})


def content_problems(store: Store) -> list[ContentProblem]:
    """Problems recorded by the last sync, for the Library page's "skipped files" notice."""
    problems = []
    for path, errors in store.rows(
        "SELECT path, errors_json FROM content_files WHERE status = 'error' ORDER BY path"
    ):
        problems.extend(ContentProblem(**p) for p in json.loads(errors))
    return problems
