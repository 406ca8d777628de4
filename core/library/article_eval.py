"""Score the article reader against hand-written answer keys: recall, doses right, precision.

The reader is rule-based, so every rule added for one article can break another. This module is
the measure that keeps it honest: each article in a folder (``.txt``, ``.md``, ``.html``) has a
sibling ``.yaml`` answer key saying which exercises a physiotherapist would draft from it, with
their doses (and, for information, cautions, positions and targets). ``make eval-articles``
prints the figures per article and overall; docs/library/article-import.md defines them.

Scores are computed from the reader's JSON shape (``ArticleDrafts.to_dict()``, the same as
``routine-desk content import-article FILE --json``), so an article outside the repository is
scored the same way from the command's output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.library.article_match import name_tokens

ARTICLE_SUFFIXES = (".txt", ".md", ".html", ".htm")
DOSE_AMOUNTS = ("hold_s", "reps", "sets", "breaths", "duration_s")
NAME_MATCH = 0.6  # Dice overlap of name words for a draft to count as a key's exercise


@dataclass(frozen=True)
class KeyExercise:
    """One exercise a physiotherapist would draft from the article, as the answer key says."""

    name: str
    also: tuple[str, ...] = ()
    dose: dict[str, Any] = field(default_factory=dict)
    position: str | None = None
    targets: tuple[str, ...] = ()
    cautions: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.also)


@dataclass(frozen=True)
class AnswerKey:
    exercises: tuple[KeyExercise, ...]
    holdout: bool = False


def load_key(path: Path) -> AnswerKey:
    """An answer key from YAML; a malformed key raises ValueError naming the file and field."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    exercises = []
    for n, item in enumerate(data.get("exercises") or []):
        if not isinstance(item, dict) or not item.get("name"):
            raise ValueError(f"{path.name}: exercises[{n}] needs a name")
        dose = dict(item.get("dose") or {})
        unknown = set(dose) - {*DOSE_AMOUNTS, "per_side"}
        if unknown:
            raise ValueError(f"{path.name}: exercises[{n}].dose has unknown fields {sorted(unknown)}")
        exercises.append(KeyExercise(
            name=str(item["name"]), also=tuple(item.get("also") or ()), dose=dose,
            position=item.get("position"), targets=tuple(item.get("targets") or ()),
            cautions=tuple(item.get("cautions") or ())))
    return AnswerKey(tuple(exercises), bool(data.get("holdout", False)))


def name_score(key_names: Sequence[str], draft_name: str) -> float:
    """Dice overlap of the words of the draft's name with the best of the key's names."""
    drafted = set(name_tokens(draft_name))
    best = 0.0
    for name in key_names:
        wanted = set(name_tokens(name))
        if wanted and drafted:
            best = max(best, 2 * len(wanted & drafted) / (len(wanted) + len(drafted)))
    return best


def pair_exercises(key: Sequence[KeyExercise], drafts: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Key index → draft index, one to one, best-named pairs first (ties to the earlier)."""
    scored = sorted(((-name_score(k.names(), str(d.get("name", ""))), ki, di)
                     for ki, k in enumerate(key) for di, d in enumerate(drafts)))
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for negative, ki, di in scored:
        if -negative < NAME_MATCH:
            break
        if ki not in pairs and di not in used:
            pairs[ki] = di
            used.add(di)
    return pairs


def dose_right(expected: dict[str, Any], drafted: dict[str, Any]) -> bool:
    """Every amount equal ([min, max], or both absent) and per side the same (absent = not)."""
    for name in DOSE_AMOUNTS:
        want = expected.get(name)
        got = drafted.get(name)
        if (list(want) if want is not None else None) != (list(got) if got is not None else None):
            return False
    return bool(expected.get("per_side")) == (drafted.get("per_side") is True)


@dataclass
class ArticleScore:
    """Counts for one article; ratios are computed from counts so totals can be summed."""

    article: str
    holdout: bool
    expected: int = 0
    drafted: int = 0
    found: int = 0
    doses_right: int = 0
    cautions_expected: int = 0
    cautions_found: int = 0
    positions_expected: int = 0
    positions_right: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.expected if self.expected else None

    @property
    def dose_accuracy(self) -> float | None:
        return self.doses_right / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        return self.found / self.drafted if self.drafted else None

    def add(self, other: ArticleScore) -> None:
        for name in ("expected", "drafted", "found", "doses_right", "cautions_expected", "cautions_found",
                     "positions_expected", "positions_right"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def score_article(article: str, key: AnswerKey, drafts: dict[str, Any]) -> ArticleScore:
    """How the drafts (the reader's JSON shape) compare with the answer key."""
    exercises = list(drafts.get("exercises") or [])
    score = ArticleScore(article, key.holdout, expected=len(key.exercises), drafted=len(exercises))
    pairs = pair_exercises(key.exercises, exercises)
    for ki, wanted in enumerate(key.exercises):
        score.cautions_expected += len(wanted.cautions)
        score.positions_expected += wanted.position is not None
        if ki not in pairs:
            score.problems.append(f"missed: {wanted.name}")
            continue
        draft = exercises[pairs[ki]]
        score.found += 1
        dose = draft.get("dose") or {}
        if dose_right(wanted.dose, dose):
            score.doses_right += 1
        else:
            got = {k: v for k, v in dose.items() if v is not None}
            score.problems.append(f"dose of {wanted.name}: wanted {wanted.dose}, got {got}")
        cautions = " ".join(draft.get("cautions") or []).lower()
        score.cautions_found += sum(c.lower() in cautions for c in wanted.cautions)
        score.positions_right += wanted.position is not None and draft.get("position") == wanted.position
    extra = sorted(set(range(len(exercises))) - set(pairs.values()))
    score.problems += [f"not in the key: {exercises[i].get('name')}" for i in extra]
    return score


def article_files(folder: Path) -> list[tuple[Path, Path]]:
    """(article, answer key) pairs in a folder, by name; articles without a key are left out."""
    return [(path, path.with_suffix(".yaml")) for path in sorted(folder.iterdir())
            if path.suffix.lower() in ARTICLE_SUFFIXES and path.with_suffix(".yaml").is_file()]


def score_folder(folder: Path, groups: Iterable[bool] = (False, True)) -> list[ArticleScore]:
    """Read every keyed article in the folder with the reader and score it."""
    from core.library.articles import read_article_file

    wanted = set(groups)
    scores = []
    for article, key_path in article_files(folder):
        key = load_key(key_path)
        if key.holdout not in wanted:
            continue
        drafts = read_article_file(article.read_bytes(), article.name).to_dict()
        scores.append(score_article(article.name, key, drafts))
    return scores


def total(scores: Iterable[ArticleScore], label: str, holdout: bool = False) -> ArticleScore:
    """The summed counts of several articles (ratios of sums, not means of ratios)."""
    out = ArticleScore(label, holdout)
    for score in scores:
        out.add(score)
    return out


def _ratio(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def _row(score: ArticleScore) -> str:
    cautions = f"{score.cautions_found}/{score.cautions_expected}" if score.cautions_expected else "-"
    positions = f"{score.positions_right}/{score.positions_expected}" if score.positions_expected else "-"
    return (f"{score.article:<28} {'out' if score.holdout else 'in':<4} {score.found:>2}/{score.expected:<3}"
            f" {_ratio(score.recall):>6} {_ratio(score.dose_accuracy):>6} {_ratio(score.precision):>6}"
            f" {cautions:>8} {positions:>9}")


def report(scores: Sequence[ArticleScore], verbose: bool = False) -> str:
    """The table `make eval-articles` prints: one row per article, then the totals."""
    lines = [f"{'article':<28} {'set':<4} {'found':<6} {'recall':>6} {'doses':>6} {'prec.':>6}"
             f" {'cautions':>8} {'positions':>9}"]
    for score in scores:
        lines.append(_row(score))
        if verbose:
            lines += [f"    {p}" for p in score.problems]
    lines.append("")
    for label, group in (("held-in", [s for s in scores if not s.holdout]),
                         ("held-out", [s for s in scores if s.holdout])):
        if group:
            lines.append(_row(total(group, f"TOTAL {label}", group[0].holdout)))
    lines.append(_row(total(scores, "TOTAL all")))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score the article reader against answer keys.")
    parser.add_argument("folder", type=Path, nargs="?",
                        default=Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "articles")
    parser.add_argument("--set", choices=("all", "in", "out"), default="all",
                        help="held-in articles, held-out articles, or both (default)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list misses, wrong doses and extras")
    parser.add_argument("--json", action="store_true", help="the totals as JSON")
    parser.add_argument("--drafts", type=Path, default=None,
                        help="score this output of `routine-desk content import-article FILE --json` instead, "
                             "against --key")
    parser.add_argument("--key", type=Path, default=None, help="the answer key for --drafts")
    args = parser.parse_args(argv)
    if args.drafts is not None or args.key is not None:
        if args.drafts is None or args.key is None:
            parser.error("--drafts and --key go together")
        drafts = json.loads(args.drafts.read_text(encoding="utf-8"))
        score = score_article(args.drafts.name, load_key(args.key), drafts)
        print(report([score], verbose=True))
        return 0
    groups = {"all": (False, True), "in": (False,), "out": (True,)}[args.set]
    scores = score_folder(args.folder, groups)
    if args.json:
        overall = total(scores, "all")
        print(json.dumps({"recall": overall.recall, "dose_accuracy": overall.dose_accuracy,
                          "precision": overall.precision}))
    else:
        print(report(scores, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
