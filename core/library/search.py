"""Read-side queries over the exercise library: search, filters and one exercise in full."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.db.store import Store

FACETS = ("target", "audience", "caution", "equipment")

_DOSE_COLUMNS = (
    "hold_min_s", "hold_max_s", "reps_min", "reps_max", "sets_min", "sets_max",
    "breaths_min", "breaths_max", "per_side", "seconds_per_rep",
)


@dataclass(frozen=True)
class LibraryFilter:
    """What staff typed and picked on the Library page; empty means "any"."""

    text: str = ""
    kinds: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    cautions: tuple[str, ...] = ()
    exclude_cautions: tuple[str, ...] = field(default=())


def _tag_list(facet: str) -> str:
    return (
        f"coalesce((SELECT string_agg(t.value, ', ' ORDER BY t.value) FROM exercise_tags t"
        f" WHERE t.exercise_id = e.id AND t.facet = '{facet}'), '')"
    )


def list_exercises(store: Store, flt: LibraryFilter = LibraryFilter()) -> pd.DataFrame:
    """Active exercises matching the filter, by name.

    Text matches name or any alias, case-insensitively. Within one facet any picked value
    matches (OR); across facets all must match (AND). ``exclude_cautions`` hides exercises that
    carry any of those caution tags.
    """
    where = ["e.active"]
    params: list[Any] = []
    if flt.text.strip():
        where.append(
            "(e.name ILIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM exercise_tags a WHERE a.exercise_id = e.id"
            " AND a.facet = 'alias' AND a.value ILIKE ? ESCAPE '\\'))"
        )
        pattern = "%" + _escape_like(flt.text.strip()) + "%"
        params += [pattern, pattern]
    for column, values in (("e.kind", flt.kinds), ("e.position", flt.positions)):
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += list(values)
    for facet, values in (("target", flt.targets), ("audience", flt.audiences), ("caution", flt.cautions)):
        if values:
            where.append(
                f"EXISTS (SELECT 1 FROM exercise_tags t WHERE t.exercise_id = e.id AND t.facet = '{facet}'"
                f" AND t.value IN ({', '.join('?' * len(values))}))"
            )
            params += list(values)
    if flt.exclude_cautions:
        where.append(
            "NOT EXISTS (SELECT 1 FROM exercise_tags t WHERE t.exercise_id = e.id AND t.facet = 'caution'"
            f" AND t.value IN ({', '.join('?' * len(flt.exclude_cautions))}))"
        )
        params += list(flt.exclude_cautions)
    sql = f"""
        SELECT e.id, e.name, e.kind, e.position,
               {_tag_list('alias')} AS aliases,
               {_tag_list('target')} AS targets,
               {_tag_list('audience')} AS audiences,
               {_tag_list('caution')} AS cautions,
               {', '.join('e.' + c for c in _DOSE_COLUMNS)}
        FROM exercises e
        WHERE {' AND '.join(where)}
        ORDER BY lower(e.name)
    """
    frame = store.query(sql, params)
    frame.insert(4, "dose", [format_dose(row) for row in frame.to_dict("records")])
    return frame.drop(columns=list(_DOSE_COLUMNS))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def facet_values(store: Store) -> dict[str, list[str]]:
    """Every value in use per filterable field, for the filter widgets."""
    values: dict[str, list[str]] = {"kind": [], "position": []}
    for column in ("kind", "position"):
        values[column] = [v for (v,) in store.rows(
            f"SELECT DISTINCT {column} FROM exercises WHERE active ORDER BY 1")]
    for facet in FACETS:
        values[facet] = [v for (v,) in store.rows(
            "SELECT DISTINCT t.value FROM exercise_tags t JOIN exercises e ON e.id = t.exercise_id"
            " WHERE e.active AND t.facet = ? ORDER BY 1", [facet])]
    return values


def get_exercise(store: Store, exercise_id: str) -> dict[str, Any] | None:
    """One exercise with everything the detail view and the CLI show, or None."""
    frame = store.query("SELECT * FROM exercises WHERE id = ?", [exercise_id])
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    tags: dict[str, list[str]] = {f: [] for f in ("alias", *FACETS)}
    for facet, value in store.rows(
        "SELECT facet, value FROM exercise_tags WHERE exercise_id = ? ORDER BY facet, value", [exercise_id]
    ):
        tags.setdefault(facet, []).append(value)
    sources = [
        {"title": title, "url": url}
        for title, url in store.rows(
            "SELECT title, url FROM exercise_sources WHERE exercise_id = ? ORDER BY position", [exercise_id])
    ]
    return {
        "id": row["id"],
        "name": row["name"],
        "aliases": tags["alias"],
        "kind": row["kind"],
        "position": row["position"],
        "targets": tags["target"],
        "equipment": tags["equipment"],
        "audiences": tags["audience"],
        "cautions": tags["caution"],
        "dose": dose_dict(row),
        "dose_text": format_dose(row),
        "summary": row["summary"],
        "steps": json.loads(row["steps_json"]),
        "cues": json.loads(row["cues_json"]),
        "mistakes": json.loads(row["mistakes_json"]),
        "sources": sources,
        "source_file": row["source_file"],
        "active": bool(row["active"]),
    }


def all_exercises(store: Store) -> list[dict[str, Any]]:
    """Every active exercise in full, in name order (the CLI's ``exercises list``)."""
    ids = [i for (i,) in store.rows("SELECT id FROM exercises WHERE active ORDER BY lower(name)")]
    return [get_exercise(store, i) for i in ids]


def _pair(row: dict[str, Any], lo: str, hi: str) -> list[int] | None:
    if _missing(row.get(lo)):
        return None
    return [int(row[lo]), int(row[hi])]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def dose_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The dose columns of an exercise or routine-item row as the JSON shape used everywhere."""
    spr = row.get("seconds_per_rep")
    per_side = row.get("per_side")
    return {
        "hold_s": _pair(row, "hold_min_s", "hold_max_s"),
        "reps": _pair(row, "reps_min", "reps_max"),
        "sets": _pair(row, "sets_min", "sets_max"),
        "breaths": _pair(row, "breaths_min", "breaths_max"),
        "per_side": None if _missing(per_side) else bool(per_side),
        "seconds_per_rep": None if _missing(spr) else float(spr),
    }


def _range_text(pair: list[int] | None, unit: str) -> str | None:
    if pair is None:
        return None
    lo, hi = pair
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def format_dose(row: dict[str, Any]) -> str:
    """A dose as staff write it: "2–3 × 30–60 s per side", "2–3 × 10–15 reps"."""
    dose = dose_dict(row)
    amount = " + ".join(t for t in (
        _range_text(dose["hold_s"], " s"),
        _range_text(dose["reps"], " reps"),
        _range_text(dose["breaths"], " breaths"),
    ) if t)
    sets = _range_text(dose["sets"], "")
    text = f"{sets} × {amount}" if sets and amount else amount or ""
    return f"{text} per side" if dose["per_side"] and text else text
