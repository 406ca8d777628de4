"""Safety rules: which exercises need care for which client on which date, and why.

The rules are data (``RULES``): each names the client state it needs (pregnancy week, health flags)
and, for exercise rules, the exercise tags it reacts to (caution tags, body position, audience).
They are compiled into one set-based DuckDB query, so the same rules check one draft in the builder
and every active assignment of a chain-sized practice for the alerts. Each finding carries a
level (block | warn | info), the rule id, the exercise, a plain-language reason and, when the
library has one, a substitute that is safe for the same client on the same date.

The reasons rest on ../shared/clinical-notes.md (ACOG Committee Opinion 804 for pregnancy, NICE
CKS for low-back red flags, the adherence literature for program length); rules the practice set
without a cited source say so in ``source``. The app supports staff; it does not diagnose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from core.practice.pregnancy import PREGNANCY_DAYS, pregnancy_sql
from core.practice.warning_signs import vocabulary
from core.db.store import Store, sql_literal

Level = Literal["block", "warn", "info"]
LEVELS: tuple[str, ...] = ("block", "warn", "info")
LEVEL_LABELS = {"block": "Blocked", "warn": "Warning", "info": "Note"}

HEALTH_FLAGS: dict[str, str] = {
    "knee_pain": "Knee pain",
    "hypermobility": "Hypermobility",
    "diastasis_recti": "Diastasis recti (separated abdominal muscles)",
    "postpartum": "Postpartum (recently given birth)",
    "placenta_previa": "Placenta previa",
    "heart_disease": "Significant heart disease",
    "restrictive_lung_disease": "Restrictive lung disease",
    "multiple_gestation_preterm_risk": "Multiple pregnancy at risk of preterm labour",
    "severe_anaemia": "Severe anaemia",
    "preeclampsia": "Pre-eclampsia or pregnancy-induced high blood pressure",
    "ruptured_membranes": "Ruptured membranes (waters broken)",
    "preterm_labour": "Preterm labour",
    "cervical_insufficiency": "Cervical insufficiency or cerclage",
    "persistent_bleeding": "Persistent bleeding in the 2nd or 3rd trimester",
    "saddle_numbness": "Saddle numbness",
    "bladder_bowel_change": "New bladder or bowel change",
    "progressive_leg_weakness": "Progressive leg weakness",
    "cancer_history": "History of cancer",
    "osteoporosis": "Osteoporosis",
    "steroid_use": "Long-term steroid use",
    "recent_trauma": "Recent fall or injury",
}
# ACOG CO 804 contraindications (clinical notes): exercise only with the care provider's clearance.
PREGNANCY_CLEARANCE_FLAGS = ("heart_disease", "restrictive_lung_disease", "cervical_insufficiency",
                             "multiple_gestation_preterm_risk", "persistent_bleeding", "preterm_labour",
                             "ruptured_membranes", "preeclampsia", "severe_anaemia")
LOW_BACK_RED_FLAGS = ("saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness")
# NICE CKS: possible cancer (history), possible fracture (osteoporosis, steroid use, trauma).
LOW_BACK_HISTORY_FLAGS = ("cancer_history", "osteoporosis", "steroid_use", "recent_trauma")



def pregnancy_stop_signs() -> tuple[str, ...]:
    """What a pregnant client is told to stop for (ACOG, via the clinical notes), printed on the
    handout from the same vocabulary (data/red_flags) that tags her session notes."""
    return vocabulary().stop_signs()


ACOG = ("ACOG Committee Opinion 804 (2020), Physical Activity and Exercise During Pregnancy and the"
        " Postpartum Period")
NICE = "NICE CKS Back pain - low (without radiculopathy): red flags"
PRACTICE = "practice rule (no cited source)"


@dataclass(frozen=True)
class Rule:
    """One safety rule. Conditions are ANDed; within one list any value matches.

    ``pregnancy``: pregnant (on the date) | not_over (pregnant, or no known end) | stage_unknown
    (in the pregnant segment without a due date). ``min_week``/``max_week`` bound the completed
    gestational week; ``unknown_week_fires`` makes a missing week count as reached (for blocks).
    Exercise rules match ``cautions_any`` or ``positions_any`` and/or ``lacks_audience``; routine
    rules fire once per assignment, or per session when ``max_items_per_session`` is set.
    ``not_cleared``: only while no care-provider clearance is recorded for this pregnancy.
    ``reason`` may contain {flags} (the matching flags' labels) and {count} (items in the session).
    ``client_note`` is what the client's handout says when the rule fired (None: staff-only).
    """

    id: str
    level: Level
    reason: str
    source: str
    scope: Literal["exercise", "routine"] = "exercise"
    pregnancy: Literal["pregnant", "not_over", "stage_unknown"] | None = None
    min_week: int | None = None
    max_week: int | None = None
    unknown_week_fires: bool = False
    flags_any: tuple[str, ...] = ()
    cautions_any: tuple[str, ...] = ()
    positions_any: tuple[str, ...] = ()
    lacks_audience: str | None = None
    max_items_per_session: int | None = None
    not_cleared: bool = False
    prefer_positions: tuple[str, ...] = ()
    client_note: str | None = None

    def matches_exercise(self, position: str, cautions: set[str], audiences: set[str]) -> bool:
        """Whether an exercise has what this rule reacts to (ignoring the client side)."""
        tagged = bool(cautions & set(self.cautions_any)) or position in self.positions_any
        if not (self.cautions_any or self.positions_any):
            tagged = True
        unsuited = self.lacks_audience is None or self.lacks_audience not in audiences
        return self.scope == "exercise" and tagged and unsuited


RULES: tuple[Rule, ...] = (
    Rule(
        "pregnancy_supine_from_week_20", "warn",
        "From about week 20, lying flat on the back lets the womb press on the large vein that returns"
        " blood to the heart (vena cava); she can feel light-headed within minutes. Use a propped-up"
        " (inclined) or side-lying version.",
        ACOG, pregnancy="pregnant", min_week=20, cautions_any=("supine",), positions_any=("supine",),
        prefer_positions=("inclined", "side_lying"),
        client_note="Do not lie flat on your back for this one: do it propped up or lying on your side,"
                    " as your therapist showed you.",
    ),
    Rule(
        "pregnancy_prone_from_week_13", "warn",
        "From the second trimester (week 13) lying face down means lying on the growing bump. Use a"
        " hands-and-knees, side-lying or standing version.",
        PRACTICE, pregnancy="pregnant", min_week=13, cautions_any=("prone",), positions_any=("prone",),
        prefer_positions=("all_fours", "side_lying", "standing"),
        client_note="Do not lie face down for this one: use the hands-and-knees or side-lying version.",
    ),
    Rule(
        "pregnancy_end_range_hip", "info",
        "In pregnancy the hormone relaxin loosens the ligaments around the pelvis: keep this stretch"
        " mild and well short of the end of the range.",
        ACOG, pregnancy="pregnant", cautions_any=("end_range_hip",),
        client_note="Keep this stretch gentle and stop well before the end of your range.",
    ),
    Rule(
        "pregnancy_balance_third_trimester", "warn",
        "Third trimester (week 28 on): the changing shape and looser ligaments make balance less"
        " reliable. Do this holding a wall, rail or sturdy chair.",
        PRACTICE, pregnancy="pregnant", min_week=28, cautions_any=("balance",),
        prefer_positions=("side_lying", "all_fours", "seated"),
        client_note="Hold on to a wall, rail or sturdy chair throughout.",
    ),
    Rule(
        "pregnancy_not_suited", "info",
        "Not one of the library's exercises marked as suited to pregnancy: check that it suits her"
        " stage before keeping it.",
        PRACTICE, pregnancy="pregnant", lacks_audience="pregnant",
    ),
    Rule(
        "pregnancy_needs_clearance", "block",
        "Needs medical clearance: {flags} is recorded, a pregnancy condition where exercise should only"
        " start once her care provider has cleared it.",
        ACOG, scope="routine", pregnancy="not_over", flags_any=PREGNANCY_CLEARANCE_FLAGS,
        client_note="Only start this program once your care provider has said exercise is fine for you.",
    ),
    Rule(
        "pregnancy_not_cleared", "warn",
        "No clearance from her care provider is recorded for this pregnancy: exercise in pregnancy is"
        " advised after a clinical evaluation, and the pregnancy routines assume one. Ask her to check with"
        " her midwife or doctor and record the date.",
        ACOG, scope="routine", pregnancy="pregnant", not_cleared=True,
        client_note="Check with your midwife or doctor that exercise is fine for you before you start.",
    ),
    Rule(
        "pregnancy_placenta_previa_after_26", "block",
        "Needs medical clearance: placenta previa after week 26 is a condition where exercise should"
        " only go ahead once her care provider has cleared it.",
        ACOG, scope="routine", pregnancy="not_over", min_week=26, unknown_week_fires=True,
        flags_any=("placenta_previa",),
        client_note="Only start this program once your care provider has said exercise is fine for you.",
    ),
    Rule(
        "pregnancy_placenta_previa_before_26", "info",
        "Placenta previa is recorded: from week 26 exercise needs her care provider's clearance, so"
        " plan that conversation before then.",
        ACOG, scope="routine", pregnancy="pregnant", max_week=26, flags_any=("placenta_previa",),
    ),
    Rule(
        "pregnancy_stage_unknown", "warn",
        "She is in the pregnant segment but no due date is recorded, so the checks that depend on the"
        " week (lying on the back from week 20, balance from week 28, ...) could not run. Add the due date.",
        PRACTICE, scope="routine", pregnancy="stage_unknown",
    ),
    Rule(
        "low_back_red_flag", "block",
        "Refer before any exercise: {flags} can be a sign of a serious spinal problem (cauda equina"
        " compression or a worsening nerve problem) that needs a same-day medical assessment.",
        NICE, scope="routine", flags_any=LOW_BACK_RED_FLAGS,
        client_note="Do not start this program until a doctor has seen you about your symptoms.",
    ),
    Rule(
        "low_back_history_flag", "warn",
        "{flags} is recorded: NICE lists it among the red flags for a serious cause of back pain (cancer,"
        " or a fracture with osteoporosis, steroid use or trauma). Make sure a doctor has assessed the back"
        " before loading it, and ask about night pain and weight loss.",
        NICE, scope="routine", flags_any=LOW_BACK_HISTORY_FLAGS,
    ),
    Rule(
        "hypermobility_end_range", "warn",
        "Hypermobility is recorded and this stretch goes to the end of the hip's range or into deep hip"
        " flexion: loose joints can be pushed past a safe range. Keep it mild, short of the end of the range.",
        PRACTICE, flags_any=("hypermobility",), cautions_any=("end_range_hip", "deep_hip_flexion"),
        prefer_positions=("standing",),
        client_note="Keep this stretch gentle: stop well before the end of your range.",
    ),
    Rule(
        "knee_pain_kneeling", "warn",
        "Knee pain is recorded and this exercise puts weight through a knee: pad the knee well (folded"
        " mat or cushion) or use a standing version.",
        PRACTICE, flags_any=("knee_pain",), cautions_any=("kneeling",), positions_any=("kneeling", "half_kneeling"),
        prefer_positions=("standing", "side_lying", "supine"),   # not lunges: they load the front knee
        client_note="Put a folded mat or cushion under the knee, or use the standing version.",
    ),
    Rule(
        "knee_pain_twist", "warn",
        "Knee pain is recorded and this stretch turns the bent knee under load (a twisting strain, not"
        " kneeling pressure): keep the shin close in and the stretch mild, or choose another hip stretch.",
        PRACTICE, flags_any=("knee_pain",), cautions_any=("knee_twist",),
        prefer_positions=("standing", "supine", "side_lying"),
        client_note="Keep the front knee comfortable: if it twists or aches, stop and use the other stretch.",
    ),
    Rule(
        "abdominal_load_diastasis_postpartum", "warn",
        "This loads the abdominal wall. With {flags} recorded, have the therapist check the abdominal"
        " wall first and start with gentler core work.",
        PRACTICE, flags_any=("diastasis_recti", "postpartum"), cautions_any=("abdominal_load",),
        client_note="Check with your therapist before doing this one.",
    ),
    Rule(
        "too_many_exercises", "info",
        "{count} exercises in one session: short programs (2–4 exercises) are followed better. Consider"
        " trimming it or splitting it over the day.",
        "practice limit of 8 (no cited source); studies of home-exercise adherence"
        " found programs of 2-4 exercises followed better", scope="routine", max_items_per_session=8,
    ),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def rule_label(rule_id: str) -> str:
    """A rule id as staff read it ("pregnancy_supine_from_week_20" -> "Pregnancy supine from week 20")."""
    return rule_id.replace("_", " ").capitalize() if rule_id else rule_id


@dataclass(frozen=True)
class Finding:
    level: str
    rule_id: str
    reason: str
    exercise_id: str | None = None
    exercise_name: str | None = None
    item_no: int | None = None
    substitute_id: str | None = None
    substitute_name: str | None = None
    since: date | None = None

    def key(self) -> tuple[str, str | None, str]:
        return (self.rule_id, self.exercise_id, self.level)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level, "rule_id": self.rule_id, "exercise_id": self.exercise_id,
            "exercise": self.exercise_name, "reason": self.reason,
            "substitute": ({"exercise_id": self.substitute_id, "name": self.substitute_name}
                           if self.substitute_id else None),
        }


def blocks(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "block"]


def warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "warn"]


# -- compiling the rules to SQL ------------------------------------------------------------------

def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _reason_sql(rule: Rule, n: int) -> str:
    """The reason text as a SQL expression, with {flags} (``state.labels_<n>``) and {count} filled in."""
    fills = {"{flags}": f"s.labels_{n}", "{count}": "CAST(k.n AS VARCHAR)"}
    parts, text = [], rule.reason
    while True:
        found = [(text.find(k), k) for k in fills if k in text]
        if not found:
            break
        at, key = min(found)
        parts += [sql_literal(text[:at]), fills[key]]
        text = text[at + len(key):]
    parts.append(sql_literal(text))
    return "(" + " || ".join(p for p in parts if p != "''") + ")"


def _client_condition(rule: Rule, n: int) -> list[str]:
    """The rule's conditions on the client (state columns; ``flags_<n>`` is computed in ``state``)."""
    where: list[str] = []
    if rule.pregnancy == "pregnant":
        where.append("s.pregnant")
    elif rule.pregnancy == "not_over":
        where.append("NOT s.pregnancy_over")
    elif rule.pregnancy == "stage_unknown":
        where.append("s.stage_unknown")
    if rule.min_week is not None:
        reached = f"s.week >= {int(rule.min_week)}"
        where.append(f"(s.week IS NULL OR {reached})" if rule.unknown_week_fires else reached)
    if rule.max_week is not None:
        where.append(f"s.week < {int(rule.max_week)}")
    if rule.flags_any:
        where.append(f"coalesce(s.flags_{n}, FALSE)")
    if rule.not_cleared:
        where.append("NOT s.cleared")
    return where


def _flags_sql(rule: Rule, n: int) -> str:
    """``flagged`` columns for the ``n``th rule, from one pass over the subjects' flags: whether the
    client has one of its flags, their labels for the reason, and when the earliest of them was
    last added (for ``since``)."""
    among = f"flag IN {_in(rule.flags_any)}"
    return (f"count(*) FILTER (WHERE {among}) > 0 AS flags_{n},"
            f" string_agg(label, ', ' ORDER BY label) FILTER (WHERE {among}) AS labels_{n},"
            f" CAST(min(last_added) FILTER (WHERE {among}) AS DATE) AS added_{n}")


def _exercise_sql(rule: Rule, n: int) -> str:
    """``facts`` column: the exercise has what this exercise rule reacts to (computed once per
    exercise in the library, so each rule only joins the items it can fire on)."""
    tagged = []
    if rule.cautions_any:
        tagged.append("EXISTS (SELECT 1 FROM exercise_tags t WHERE t.exercise_id = e.id"
                      f" AND t.facet = 'caution' AND t.value IN {_in(rule.cautions_any)})")
    if rule.positions_any:
        tagged.append(f"e.position IN {_in(rule.positions_any)}")
    where = ["(" + " OR ".join(tagged) + ")"] if tagged else []
    if rule.lacks_audience:
        where.append("NOT EXISTS (SELECT 1 FROM exercise_tags t WHERE t.exercise_id = e.id"
                     f" AND t.facet = 'audience' AND t.value = {sql_literal(rule.lacks_audience)})")
    return f"({' AND '.join(where) or 'TRUE'}) AS hit_{n}"


def _rule_sql(rule: Rule, n: int) -> str:
    """One SELECT producing this rule's (the ``n``th's) findings from the ``state``/``facts``/``items`` CTEs."""
    where = _client_condition(rule, n)
    exercise, item_no, source = "CAST(NULL AS VARCHAR)", "CAST(NULL AS INTEGER)", "state s"
    if rule.scope == "exercise":
        exercise, item_no = "f.exercise_id", "f.item_no"
        source = "state s JOIN facts f ON f.subject_id = s.subject_id"
        where.append(f"f.hit_{n}")
    elif rule.max_items_per_session is not None:
        source = ("state s JOIN (SELECT subject_id, coalesce(slot, '') AS slot, count(*) AS n FROM items"
                  " GROUP BY subject_id, coalesce(slot, '')) k ON k.subject_id = s.subject_id")
        where.append(f"k.n > {int(rule.max_items_per_session)}")
    since = ["s.checked_on"]
    if rule.pregnancy == "pregnant":
        since.append(f"coalesce(s.due_date - {PREGNANCY_DAYS}, s.checked_on)")
    if rule.min_week is not None:
        since.append(f"coalesce(s.due_date - {PREGNANCY_DAYS} + {7 * int(rule.min_week)}, s.checked_on)")
    if rule.flags_any:
        since.append(f"coalesce(s.added_{n}, s.checked_on)")
    return (
        f"SELECT s.subject_id, s.client_id, {sql_literal(rule.id)} AS rule_id, {sql_literal(rule.level)} AS level,"
        f" {exercise} AS exercise_id, {item_no} AS item_no, {_reason_sql(rule, n)} AS reason,"
        f" least(greatest({', '.join(since)}), s.on_date) AS since, greatest({', '.join(since)}) AS began"
        f" FROM {source} WHERE {' AND '.join(where) or 'TRUE'}"
    )


def findings_sql(subjects_sql: str, items_sql: str, rules: tuple[Rule, ...] = RULES) -> str:
    """The rules engine as one query.

    ``subjects_sql`` yields (subject_id, client_id, on_date, checked_on): one client checked on a
    date (checked_on: when it was last reviewed, for ``since``); ``items_sql`` yields (subject_id,
    item_no, exercise_id, slot). The result has one row per finding: subject_id, client_id,
    rule_id, level, exercise_id, item_no, reason, since, began. ``began`` is the day the finding
    began to hold as far as the data tells (pregnancy start, the week reached, the flag added),
    never before ``checked_on``; ``since`` is the same, never after ``on_date``.

    Each rule's flag test is a column of ``state`` (once per subject) and each exercise rule's tag
    test a column of ``facts`` (once per library exercise), so checking every active assignment of
    a chain-sized practice joins only the items a rule can fire on.
    """
    preg = pregnancy_sql("c", "s.on_date")
    labels = ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in HEALTH_FLAGS.items())
    order = " ".join(f"WHEN {sql_literal(level)} THEN {n}" for n, level in enumerate(LEVELS))
    flagged = [n for n, rule in enumerate(rules) if rule.flags_any]
    flag_columns = "".join(f", {_flags_sql(rules[n], n)}" for n in flagged) or ", TRUE AS none"
    flag_select = "".join(f", f.flags_{n}, f.labels_{n}, f.added_{n}" for n in flagged)
    hit_columns = "".join(f", {_exercise_sql(rule, n)}" for n, rule in enumerate(rules) if rule.scope == "exercise")
    return f"""
        WITH subjects AS ({subjects_sql}),
        items AS ({items_sql}),
        flag_labels(flag, label) AS (VALUES {labels}),
        client_flag AS (  -- the subjects' flags: label, and when each was last added
            SELECT cf.client_id, cf.flag, l.label,
                   (SELECT max(ev.event_at) FROM client_events ev WHERE ev.client_id = cf.client_id
                      AND ev.event = 'flag_added' AND ev.detail = cf.flag) AS last_added
            FROM client_flags cf LEFT JOIN flag_labels l ON l.flag = cf.flag
            WHERE cf.client_id IN (SELECT client_id FROM subjects)
        ),
        flagged AS (SELECT client_id{flag_columns} FROM client_flag GROUP BY client_id),
        state AS MATERIALIZED (
            SELECT s.subject_id, s.client_id, s.on_date, s.checked_on, c.due_date,
                   {preg['pregnant']} AS pregnant, {preg['week']} AS week, {preg['over']} AS pregnancy_over,
                   coalesce(c.care_provider_cleared_on BETWEEN c.due_date - {PREGNANCY_DAYS} AND s.on_date,
                            FALSE) AS cleared,
                   (c.due_date IS NULL AND EXISTS (SELECT 1 FROM client_segments g
                        WHERE g.client_id = c.id AND g.segment = 'pregnant')) AS stage_unknown{flag_select}
            FROM subjects s JOIN clients c ON c.id = s.client_id LEFT JOIN flagged f ON f.client_id = s.client_id
        ),
        library AS (
            SELECT e.id AS exercise_id, e.position AS body_position{hit_columns} FROM exercises e
        ),
        facts AS MATERIALIZED (
            SELECT i.subject_id, i.item_no, i.exercise_id, e.* EXCLUDE (exercise_id)
            FROM items i JOIN library e ON e.exercise_id = i.exercise_id
        ),
        found AS ({' UNION ALL '.join(_rule_sql(rule, n) for n, rule in enumerate(rules))})
        SELECT * FROM found
        ORDER BY subject_id, CASE level {order} END, item_no NULLS FIRST, rule_id
    """


# -- checking one client -------------------------------------------------------------------------

_ONE_SUBJECT = ("SELECT CAST(1 AS BIGINT) AS subject_id, CAST(? AS BIGINT) AS client_id,"
                " CAST(? AS DATE) AS on_date, CAST(? AS DATE) AS checked_on")


def _items_values(items: list[tuple[str, str | None]]) -> tuple[str, list[Any]]:
    if not items:
        return ("SELECT CAST(1 AS BIGINT) AS subject_id, CAST(0 AS INTEGER) AS item_no,"
                " CAST('' AS VARCHAR) AS exercise_id, CAST(NULL AS VARCHAR) AS slot WHERE FALSE"), []
    rows = ", ".join("(1, CAST(? AS INTEGER), CAST(? AS VARCHAR), CAST(? AS VARCHAR))" for _ in items)
    params: list[Any] = []
    for n, (exercise_id, slot) in enumerate(items):
        params += [n, exercise_id, slot]
    return f"SELECT * FROM (VALUES {rows}) AS v(subject_id, item_no, exercise_id, slot)", params


def _raw_findings(store: Store, client_id: int, items: list[tuple[str, str | None]], on: date) -> list[dict[str, Any]]:
    items_sql, item_params = _items_values(items)
    return store.records(findings_sql(_ONE_SUBJECT, items_sql), [client_id, on, on, *item_params])


@dataclass
class _Exercise:
    id: str
    name: str
    kind: str
    position: str
    targets: set[str] = field(default_factory=set)
    cautions: set[str] = field(default_factory=set)
    audiences: set[str] = field(default_factory=set)


def _library(store: Store) -> dict[str, _Exercise]:
    rows = store.rows(
        """
        SELECT e.id, e.name, e.kind, e.position, t.facet, t.value
        FROM exercises e LEFT JOIN exercise_tags t ON t.exercise_id = e.id
            AND t.facet IN ('target', 'caution', 'audience')
        WHERE e.active ORDER BY e.id
        """)
    library: dict[str, _Exercise] = {}
    for exercise_id, name, kind, position, facet, value in rows:
        ex = library.setdefault(exercise_id, _Exercise(exercise_id, name, kind, position))
        if facet:
            getattr(ex, {"target": "targets", "caution": "cautions", "audience": "audiences"}[facet]).add(value)
    return library


def suggest_substitute(original: str, rule: Rule, library: dict[str, _Exercise], unsafe: set[str],
                       in_routine: set[str], segments: set[str]) -> str | None:
    """The library exercise that best stands in for ``original`` under ``rule``, or None.

    It must work at least one of the same targets, not trip this rule, and carry no block or warn
    for this client on this date. Preferred, in order: suited to one of the client's segments,
    in a position the rule recommends, the same kind of exercise, more shared targets, not already
    in the routine; then by name.
    """
    if original not in library:
        return None
    orig = library[original]
    best: tuple[tuple, str] | None = None
    for cand in library.values():
        if cand.id == original or cand.id in unsafe:
            continue
        if rule.matches_exercise(cand.position, cand.cautions, cand.audiences):
            continue
        shared = len(orig.targets & cand.targets)
        if not shared:
            continue
        score = (bool(cand.audiences & segments), cand.position in rule.prefer_positions, cand.kind == orig.kind,
                 shared, cand.id not in in_routine)
        if best is None or score > best[0] or (score == best[0] and cand.name < library[best[1]].name):
            best = (score, cand.id)
    return best[1] if best else None


def check_items(store: Store, client_id: int, items: list[tuple[str, str | None]], on: date,
                suggest: bool = True) -> list[Finding]:
    """Findings for a client doing these (exercise_id, slot) items on ``on``, worst first."""
    raw = _raw_findings(store, client_id, items, on)
    library = _library(store)
    substitutes: dict[tuple[str, str], str | None] = {}
    if suggest and any(r["exercise_id"] for r in raw):
        whole = _raw_findings(store, client_id, [(i, None) for i in library], on)
        unsafe = {r["exercise_id"] for r in whole if r["exercise_id"] and r["level"] in ("block", "warn")}
        segments = {s for (s,) in store.rows("SELECT segment FROM client_segments WHERE client_id = ?", [client_id])}
        in_routine = {exercise_id for exercise_id, _ in items}
        for r in raw:
            if r["exercise_id"]:
                key = (r["rule_id"], r["exercise_id"])
                if key not in substitutes:
                    substitutes[key] = suggest_substitute(r["exercise_id"], RULES_BY_ID[r["rule_id"]], library,
                                                          unsafe, in_routine, segments)
    findings = []
    for r in raw:
        sub = substitutes.get((r["rule_id"], r["exercise_id"])) if r["exercise_id"] else None
        ex = library.get(r["exercise_id"]) if r["exercise_id"] else None
        findings.append(Finding(
            r["level"], r["rule_id"], r["reason"], r["exercise_id"],
            ex.name if ex else (r["exercise_id"] or None), r["item_no"],
            sub, library[sub].name if sub else None, r["since"]))
    return findings


def check_routine(store: Store, client_id: int, routine_id: str, version: int, on: date,
                  suggest: bool = True) -> list[Finding]:
    """Findings for a stored routine version."""
    items = [(e, s) for e, s in store.rows(
        "SELECT exercise_id, slot FROM routine_items WHERE routine_id = ? AND version = ? ORDER BY position",
        [routine_id, version])]
    return check_items(store, client_id, items, on, suggest)


def findings_table(findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings as rows for a table on screen or in the CLI."""
    return [{
        "level": f.level, "exercise": f.exercise_name or "(whole routine)", "reason": f.reason,
        "substitute": f.substitute_name or "", "rule": f.rule_id,
    } for f in findings]
