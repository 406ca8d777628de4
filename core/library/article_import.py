"""Save accepted article drafts as content files under data/exercises.

Staff decide what to accept (on the "Import from article" page, or all at once with the CLI's
``--save``). An accepted draft either becomes a new ``<id>.md`` file in the content format, with
the article as its source, or is merged into the library exercise it matches: the article is
added to that file's sources and the article's name for it to its aliases, leaving every other
line (comments included) as it was.

Every file is checked with the same loader the app uses before it is written, and written by
replacing the old file in one step, so a draft that lacks what the library needs (a kind, a
position, an amount, per side or not) is reported back and nothing is half-written.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.library.article_dose import DoseDraft, parse_pair
from core.library.article_match import name_tokens
from core.library.articles import ExerciseDraft, RoutineDraft
from core.access.auth import STAFF_WRITERS, audit, require_role
from core.library.content import ContentError, parse_exercise, sync_library
from core.library.search import format_dose
from core.db.store import Store

# What a position tells the safety rules without anyone having to judge it (docs/library/content-format.md):
# lying on the back or front, weight on a knee, or the balance a lunge needs.
POSITION_CAUTIONS = {"supine": "supine", "prone": "prone", "kneeling": "kneeling", "half_kneeling": "kneeling",
                     "lunge": "balance"}


# What staff read for each field a problem names ("dose.hold_s: ..." is "Hold (seconds): ..." on the
# page). Problems keep the field's path as their stable prefix, for the CLI and its JSON.
FIELD_LABELS = {
    "name": "Name", "aliases": "Aliases", "summary": "Summary", "steps": "Steps", "cues": "Cues",
    "mistakes": "Common mistakes", "kind": "Kind", "position": "Position", "targets": "Targets",
    "cautions": "Cautions", "audiences": "Suits", "equipment": "Equipment", "source": "Article title",
    "sources": "Article source", "sources.title": "Article title", "sources.url": "Article URL", "dose": "Dose",
    "dose.hold_s": "Hold (seconds)", "dose.reps": "Reps", "dose.sets": "Sets", "dose.breaths": "Breaths",
    "dose.per_side": "Each side?", "dose.seconds_per_rep": "Seconds per rep",
}
_DOSE_CODES = re.compile(r"\b(hold_s|per_side|seconds_per_rep)\b")


def field_label(path: str) -> str:
    """The label of a field path as a problem names it (list positions ignored: "targets.0" is
    Targets); a path without a label reads with spaces for its underscores and dots."""
    parts = [part for part in path.split(".") if not part.isdigit()]
    for key in (".".join(parts), parts[0] if parts else path):
        if key in FIELD_LABELS:
            return FIELD_LABELS[key]
    text = path.replace("_", " ").replace(".", " ")
    return text[:1].upper() + text[1:]


def readable_problem(problem: str) -> str:
    """A save problem as staff read it: the field's label in place of its path, and dose codes the
    loader's message names ("hold_s max 900 ...") as their labels too."""
    path, sep, message = problem.partition(": ")
    if not sep or " " in path:
        return problem
    return f"{field_label(path)}: " + _DOSE_CODES.sub(lambda m: FIELD_LABELS[f"dose.{m[1]}"], message)


@dataclass(frozen=True)
class ArticleSource:
    """The article an exercise came from, as written into the file's ``sources``."""

    title: str
    url: str | None = None


@dataclass
class SaveResult:
    """What happened to one accepted draft."""

    draft_name: str
    action: str                    # created | merged | unchanged | rejected
    exercise_id: str | None = None
    file: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.draft_name, "action": self.action, "exercise_id": self.exercise_id,
                "file": self.file, "problems": list(self.problems)}


@dataclass
class Extras:
    """Fields of a new exercise that articles do not give and staff add on review."""

    cautions: list[str] | None = None   # None: derived from the position
    audiences: list[str] = field(default_factory=list)
    equipment: list[str] = field(default_factory=list)
    summary: str | None = None


def dose_text(dose: DoseDraft) -> str:
    """A draft dose the way the library shows doses ("2–3 × 30–60 s per side")."""
    def pair(value: tuple[int, int] | None) -> tuple[int | None, int | None]:
        return value if value else (None, None)

    row = dict(zip(("hold_min_s", "hold_max_s"), pair(dose.hold_s)))
    row.update(zip(("reps_min", "reps_max"), pair(dose.reps)))
    row.update(zip(("sets_min", "sets_max"), pair(dose.sets)))
    row.update(zip(("breaths_min", "breaths_max"), pair(dose.breaths)))
    row.update(per_side=dose.per_side, seconds_per_rep=dose.seconds_per_rep)
    text = format_dose(row)
    if dose.duration_s:  # "continue for one minute": the library has no field for it, so it is said
        low, high = dose.duration_s
        moving = f"for {low} s" if low == high else f"for {low}–{high} s"
        text = f"{text}, {moving}" if text else moving
    return text


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60].strip("-")
    return slug or "exercise"


def free_id(name: str, folder: Path) -> str:
    """A slug for ``name`` that no file in ``folder`` uses yet."""
    base = slugify(name)
    candidate, n = base, 2
    while (folder / f"{candidate}.md").exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def cautions_for(position: str | None) -> list[str]:
    return [POSITION_CAUTIONS[position]] if position in POSITION_CAUTIONS else []


def missing_fields(draft: ExerciseDraft) -> list[str]:
    """What the library needs that this draft does not have yet, in staff's words."""
    dose = draft.dose
    problems = []
    if not draft.name.strip():
        problems.append("name: give the exercise a name")
    if not [s for s in draft.steps if s.strip()]:
        problems.append("steps: at least one step is needed")
    if not draft.kind:
        problems.append("kind: not given by the article, pick one")
    if not draft.position:
        problems.append("position: not given by the article, pick one")
    if not draft.targets:
        problems.append("targets: pick at least one")
    if not dose.has_amount():
        problems.append("dose: needs a hold, reps or breaths")
    if dose.per_side is None:
        problems.append("dose.per_side: say whether it is done on each side")
    if dose.reps and dose.seconds_per_rep is None:
        problems.append("dose.seconds_per_rep: needed when reps are set (how long one rep takes)")
    return problems


def _q(text: str) -> str:
    return json.dumps(" ".join(str(text).split()), ensure_ascii=False)


def _flow(values: Iterable[str], quote: bool = True) -> str:
    return "[" + ", ".join(_q(v) if quote else v for v in values) + "]"


def _pair(value: tuple[int, int] | None) -> str:
    return f"[{value[0]}, {value[1]}]" if value else "null"


def exercise_file_text(draft: ExerciseDraft, exercise_id: str, source: ArticleSource,
                       extras: Extras | None = None) -> str:
    """The content file for a draft (docs/library/content-format.md); strings are JSON-quoted YAML."""
    extras = extras or Extras()
    dose = draft.dose
    cautions = cautions_for(draft.position) if extras.cautions is None else extras.cautions
    lines = [
        "---",
        f"id: {exercise_id}",
        f"name: {_q(draft.name)}",
        f"aliases: {_flow(a for a in draft.aliases if a.strip())}",
        f"kind: {draft.kind or 'null'}",
        f"targets: {_flow(draft.targets, quote=False)}",
        f"position: {draft.position or 'null'}",
        f"equipment: {_flow(extras.equipment)}",
        "dose:",
        f"  hold_s: {_pair(dose.hold_s)}",
        f"  reps: {_pair(dose.reps)}",
        f"  sets: {_pair(dose.sets)}",
        f"  breaths: {_pair(dose.breaths)}",
        f"  per_side: {'null' if dose.per_side is None else str(dose.per_side).lower()}",
        f"  seconds_per_rep: {'null' if dose.seconds_per_rep is None else f'{dose.seconds_per_rep:g}'}",
        f"cautions: {_flow(cautions, quote=False)}",
        f"audiences: {_flow(extras.audiences, quote=False)}",
        "sources:",
        f"  - title: {_q(source.title)}",
        f"    url: {_q(source.url) if source.url else 'null'}",
    ]
    if extras.summary and extras.summary.strip():
        lines.append(f"summary: {_q(extras.summary)}")
    lines += ["---", "## Steps"]
    lines += [f"{n}. {' '.join(step.split())}" for n, step in enumerate((s for s in draft.steps if s.strip()), 1)]
    for title, items in (("Cues", draft.cues), ("Common mistakes", draft.mistakes)):
        items = [i for i in items if i.strip()]
        if items:
            lines += ["", f"## {title}"] + [f"- {' '.join(i.split())}" for i in items]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _validated(path: Path, text: str) -> list[str]:
    try:
        parse_exercise(path.name, text.encode("utf-8"))
    except ContentError as exc:
        return [f"{p.field}: {p.message}" for p in exc.problems]
    return []


def create_exercise(draft: ExerciseDraft, source: ArticleSource, folder: Path,
                    extras: Extras | None = None) -> SaveResult:
    """Write the draft as a new exercise file; nothing is written when it is not complete."""
    problems = missing_fields(draft)
    if not source.title.strip():
        problems.append("source: the article needs a title")
    if problems:
        return SaveResult(draft.name, "rejected", problems=problems)
    folder.mkdir(parents=True, exist_ok=True)
    exercise_id = free_id(draft.name, folder)
    path = folder / f"{exercise_id}.md"
    text = exercise_file_text(draft, exercise_id, source, extras)
    problems = _validated(path, text)
    if problems:
        return SaveResult(draft.name, "rejected", exercise_id, problems=problems)
    _write(path, text)
    return SaveResult(draft.name, "created", exercise_id, str(path))


_FRONT = re.compile(r"\A(---\s*\n)(.*?\n)(---\s*(?:\n|\Z))", re.DOTALL)


def _add_aliases(front: str, new: Sequence[str]) -> str:
    if not new:
        return front
    flow = re.search(r"^aliases:[ \t]*\[(.*)\][ \t]*$", front, re.MULTILINE)
    if flow:
        items = ", ".join([flow[1].strip()] * bool(flow[1].strip()) + [_q(a) for a in new])
        return front[:flow.start()] + f"aliases: [{items}]" + front[flow.end():]
    block = re.search(r"^aliases:[ \t]*\n((?:[ \t]+.*\n)+)", front, re.MULTILINE)
    if block:
        added = "".join(f"  - {_q(a)}\n" for a in new)
        return front[:block.end()] + added + front[block.end():]
    name = re.search(r"^name:.*\n", front, re.MULTILINE)
    at = name.end() if name else 0
    return front[:at] + f"aliases: {_flow(new)}\n" + front[at:]


def _add_source(front: str, source: ArticleSource) -> str:
    entry = f"  - title: {_q(source.title)}\n    url: {_q(source.url) if source.url else 'null'}\n"
    block = re.search(r"^sources:[ \t]*\n((?:[ \t]+.*\n)*)", front, re.MULTILINE)
    if block:
        return front[:block.end()] + entry + front[block.end():]
    return front + "sources:\n" + entry


def merge_into(exercise_id: str, draft: ExerciseDraft, source: ArticleSource, folder: Path,
               add_aliases: bool = True) -> SaveResult:
    """Add the article as a source of an existing exercise, and its names for it as aliases."""
    path = folder / f"{exercise_id}.md"
    if not path.is_file():
        return SaveResult(draft.name, "rejected", exercise_id, problems=[f"no content file {path.name}"])
    if not source.title.strip():
        return SaveResult(draft.name, "rejected", exercise_id, problems=["source: the article needs a title"])
    text = path.read_text(encoding="utf-8")
    try:
        meta = parse_exercise(path.name, text.encode("utf-8")).meta
    except ContentError as exc:
        return SaveResult(draft.name, "rejected", exercise_id, problems=[str(p) for p in exc.problems])
    known = {name_tokens(n) for n in (meta.name, *meta.aliases)}
    new_aliases: list[str] = []
    if add_aliases:
        for name in (draft.name, *draft.aliases):
            tokens = name_tokens(name)
            if name.strip() and tokens not in known:
                known.add(tokens)
                new_aliases.append(" ".join(name.split()))
    has_source = any(s.title.strip().casefold() == source.title.strip().casefold() for s in meta.sources)
    if not new_aliases and has_source:
        return SaveResult(draft.name, "unchanged", exercise_id, str(path))
    m = _FRONT.match(text)
    if not m:
        return SaveResult(draft.name, "rejected", exercise_id, problems=["front matter not found"])
    front = _add_aliases(m[2], new_aliases)
    if not has_source:
        front = _add_source(front, source)
    updated = m[1] + front + m[3] + text[m.end():]
    problems = _validated(path, updated)
    if problems:
        return SaveResult(draft.name, "rejected", exercise_id, problems=problems)
    _write(path, updated)
    return SaveResult(draft.name, "merged", exercise_id, str(path))


def save_drafts(drafts: Sequence[ExerciseDraft], source: ArticleSource, folder: Path) -> list[SaveResult]:
    """Accept every draft as it is: a matched draft is merged, any other becomes a new exercise."""
    results = []
    for draft in drafts:
        if draft.match is not None:
            results.append(merge_into(draft.match.exercise_id, draft, source, folder))
        else:
            results.append(create_exercise(draft, source, folder))
    return results


def _record(store: Store, actor: str, source: ArticleSource, results: Sequence[SaveResult]) -> None:
    """Audit what was written and reload the library, so every page sees the new files at once."""
    written = [r for r in results if r.action in ("created", "merged")]
    for r in written:
        audit(store, actor, f"exercise_{r.action}_from_article",
              {"exercise_id": r.exercise_id, "article": source.title, "url": source.url})
    if written:
        sync_library(store)


def accept_draft(store: Store, actor: str, draft: ExerciseDraft, source: ArticleSource, folder: Path, *,
                 merge_into_id: str | None = None, extras: Extras | None = None) -> SaveResult:
    """Staff accept one draft: merged into ``merge_into_id`` when given, else a new exercise.

    Owners and therapists may (PermissionDenied otherwise); what was written is audited and the
    library reloaded.
    """
    require_role(store, actor, STAFF_WRITERS)
    result = (merge_into(merge_into_id, draft, source, folder) if merge_into_id
              else create_exercise(draft, source, folder, extras))
    _record(store, actor, source, [result])
    return result


def accept_all(store: Store, actor: str, drafts: Sequence[ExerciseDraft], source: ArticleSource,
               folder: Path) -> list[SaveResult]:
    """``save_drafts`` for a staff member or the CLI: role check, audit, one library reload."""
    require_role(store, actor, STAFF_WRITERS)
    results = save_drafts(drafts, source, folder)
    _record(store, actor, source, results)
    return results


def draft_from_form(draft: ExerciseDraft, form: dict[str, Any]) -> tuple[ExerciseDraft, Extras, list[str]]:
    """Staff's edits on the review page applied to a draft: (draft, extras, problems).

    ``form`` holds the page's fields as typed: text for name, aliases (comma-separated), steps,
    cues and mistakes (one per line) and the dose ranges ("30-60"); values for the rest.
    """
    problems = []
    pairs: dict[str, tuple[int, int] | None] = {}
    for key in ("hold_s", "reps", "sets", "breaths"):
        try:
            pairs[key] = parse_pair(form.get(key))
        except ValueError as exc:
            problems.append(f"dose.{key}: {exc}")
            pairs[key] = getattr(draft.dose, key)
    spr = form.get("seconds_per_rep")
    dose = DoseDraft(**pairs, per_side=form.get("per_side"),
                     seconds_per_rep=float(spr) if spr not in (None, "") and float(spr) > 0 else None)
    aliases = [a.strip() for a in str(form.get("aliases") or "").split(",") if a.strip()]
    edited = edited_draft(
        draft, name=str(form.get("name") or ""), aliases=aliases, steps=str(form.get("steps") or ""),
        cues=str(form.get("cues") or ""), mistakes=str(form.get("mistakes") or ""), kind=form.get("kind"),
        position=form.get("position"), targets=list(form.get("targets") or []), dose=dose)
    cautions = form.get("cautions")
    extras = Extras(cautions=None if cautions is None else list(cautions),
                    audiences=list(form.get("audiences") or []))
    return edited, extras, problems


def routine_rows(routine: RoutineDraft, exercises: Sequence[ExerciseDraft]) -> list[dict[str, Any]]:
    """A draft routine as a table: each item with its dose in staff's notation and what it is."""
    rows = []
    for n, item in enumerate(routine.items, 1):
        linked = exercises[item.exercise_index].name if item.exercise_index is not None else None
        rows.append({"#": n, "item": item.name, "dose": dose_text(item.dose), "slot": item.slot,
                     "article exercise": linked,
                     "library match": item.match.exercise_id if item.match else None, "note": item.note})
    return rows


def edited_draft(draft: ExerciseDraft, **changes: Any) -> ExerciseDraft:
    """A copy of the draft with staff's edits: text fields stripped, step lists one per line."""
    from dataclasses import replace

    for key in ("steps", "cues", "mistakes", "aliases"):
        value = changes.get(key)
        if isinstance(value, str):
            changes[key] = [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(changes.get("name"), str):
        changes["name"] = " ".join(changes["name"].split())
    return replace(draft, **changes)
