"""Safety rules: every rule fires where it should and stays quiet where it should not."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from core.practice import clients
from core.practice import safety
from core.library.content import Caution
from core.db.store import Store, utcnow

ON = date(2026, 3, 2)


def client(store: Store, week: int | None = None, **fields) -> int:
    """A client who is ``week``+0 weeks pregnant on ON (None: no due date), cleared by her care
    provider unless ``care_provider_cleared_on`` says otherwise."""
    data = {"display_name": "Client"} | fields
    if week is not None:
        data = {"gestation_weeks": week, "gestation_on": ON, "care_provider_cleared_on": ON} | data
    return clients.create_client(store, data, "cli", ON).id


def fired(store: Store, client_id: int, exercises: list[str], on: date = ON) -> set[tuple[str, str | None, str]]:
    return {f.key() for f in safety.check_items(store, client_id, [(e, None) for e in exercises], on, suggest=False)}


def add_exercise(store: Store, exercise_id: str, position: str, cautions: tuple[str, ...] = (),
                 audiences: tuple[str, ...] = ("runner",), targets: tuple[str, ...] = ("core",)) -> None:
    """A made-up exercise for positions the real library does not have (nothing is prone there)."""
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO exercises (id, name, kind, position, hold_min_s, hold_max_s, per_side, steps_json,"
            " cues_json, mistakes_json, source_file, content_hash, active, updated_at)"
            " VALUES (?, ?, 'strength', ?, 20, 30, FALSE, '[]', '[]', '[]', 'test', 'x', TRUE, ?)",
            [exercise_id, exercise_id.replace("-", " ").title(), position, utcnow()])
        tags = [("caution", c) for c in cautions] + [("audience", a) for a in audiences] + [("target", t) for t in targets]
        cur.executemany("INSERT INTO exercise_tags VALUES (?, ?, ?)", [[exercise_id, f, v] for f, v in tags])


# -- pregnancy, by week ---------------------------------------------------------------------------------

def test_supine_warns_from_week_20(store: Store) -> None:
    key = ("pregnancy_supine_from_week_20", "glute-bridge", "warn")
    assert key in fired(store, client(store, 20), ["glute-bridge"])
    assert key not in fired(store, client(store, 19), ["glute-bridge"])
    assert key in fired(store, client(store, 19), ["glute-bridge"], ON + timedelta(days=7))   # she reaches 20
    assert key not in fired(store, client(store, segments=["runner"]), ["glute-bridge"])
    assert not {k for k in fired(store, client(store, 30), ["side-lying-clamshell"]) if k[0] == key[0]}
    # the position alone is enough, even without the caution tag
    add_exercise(store, "flat-back-hold", "supine")
    assert ("pregnancy_supine_from_week_20", "flat-back-hold", "warn") in fired(store, client(store, 24), ["flat-back-hold"])


def test_prone_warns_from_week_13(store: Store) -> None:
    add_exercise(store, "prone-press", "prone", cautions=("prone",))
    key = ("pregnancy_prone_from_week_13", "prone-press", "warn")
    assert key in fired(store, client(store, 13), ["prone-press"])
    assert key not in fired(store, client(store, 12), ["prone-press"])
    assert key not in fired(store, client(store), ["prone-press"])


def test_end_range_hip_is_a_note_in_any_week_of_pregnancy(store: Store) -> None:
    key = ("pregnancy_end_range_hip", "butterfly-stretch", "info")
    assert key in fired(store, client(store, 8), ["butterfly-stretch"])
    assert key not in fired(store, client(store), ["butterfly-stretch"])
    ended = client(store, 39, pregnancy_ended_on=ON - timedelta(days=1))
    assert key not in fired(store, ended, ["butterfly-stretch"])
    assert not fired(store, client(store, 8), ["cat-cow"])   # suited to pregnancy, no end-range tag


def test_balance_warns_in_the_third_trimester(store: Store) -> None:
    key = ("pregnancy_balance_third_trimester", "standing-lunge-stretch", "warn")
    assert key in fired(store, client(store, 28), ["standing-lunge-stretch"])
    assert key not in fired(store, client(store, 27), ["standing-lunge-stretch"])


def test_exercises_not_marked_for_pregnancy_get_a_note(store: Store) -> None:
    pregnant = client(store, 10)
    assert ("pregnancy_not_suited", "pigeon-pose", "info") in fired(store, pregnant, ["pigeon-pose"])
    assert ("pregnancy_not_suited", "cat-cow", "info") not in fired(store, pregnant, ["cat-cow"])
    assert ("pregnancy_not_suited", "pigeon-pose", "info") not in fired(store, client(store), ["pigeon-pose"])


def test_pregnant_segment_without_a_due_date_warns_that_week_checks_could_not_run(store: Store) -> None:
    key = ("pregnancy_stage_unknown", None, "warn")
    assert key in fired(store, client(store, segments=["pregnant"]), ["cat-cow"])
    assert key not in fired(store, client(store, 20), ["cat-cow"])
    assert key not in fired(store, client(store, segments=["runner"]), ["cat-cow"])


# -- conditions that need clearance or referral -----------------------------------------------------------

@pytest.mark.parametrize("flag", safety.PREGNANCY_CLEARANCE_FLAGS)
def test_pregnancy_conditions_block_everything(store: Store, flag: str) -> None:
    findings = safety.check_items(store, client(store, 22, flags=[flag]), [("cat-cow", None)], ON)
    block = next(f for f in findings if f.level == "block")
    assert block.rule_id == "pregnancy_needs_clearance" and block.exercise_id is None
    assert block.reason.startswith("Needs medical clearance") and safety.HEALTH_FLAGS[flag] in block.reason
    assert findings[0] == block                                  # worst first


def test_clearance_block_names_every_flag_and_ends_with_the_pregnancy(store: Store) -> None:
    both = client(store, 30, flags=["preterm_labour", "preeclampsia"])
    reason = next(f.reason for f in safety.check_items(store, both, [("cat-cow", None)], ON) if f.level == "block")
    assert f"{safety.HEALTH_FLAGS['preeclampsia']}, {safety.HEALTH_FLAGS['preterm_labour']}" in reason
    ended = client(store, 39, flags=["preeclampsia"], pregnancy_ended_on=ON - timedelta(days=1))
    assert ("pregnancy_needs_clearance", None, "block") not in fired(store, ended, ["cat-cow"])
    # no due date recorded: the condition still blocks (the pregnancy is not known to be over)
    unknown = client(store, segments=["pregnant"], flags=["ruptured_membranes"])
    assert ("pregnancy_needs_clearance", None, "block") in fired(store, unknown, ["cat-cow"])
    assert ("pregnancy_needs_clearance", None, "block") not in fired(store, client(store, 22), ["cat-cow"])


def test_placenta_previa_blocks_after_week_26_and_is_a_note_before(store: Store) -> None:
    after, before = "pregnancy_placenta_previa_after_26", "pregnancy_placenta_previa_before_26"
    at_26 = fired(store, client(store, 26, flags=["placenta_previa"]), ["cat-cow"])
    assert (after, None, "block") in at_26 and (before, None, "info") not in at_26
    at_25 = fired(store, client(store, 25, flags=["placenta_previa"]), ["cat-cow"])
    assert (after, None, "block") not in at_25 and (before, None, "info") in at_25
    unknown_week = fired(store, client(store, segments=["pregnant"], flags=["placenta_previa"]), ["cat-cow"])
    assert (after, None, "block") in unknown_week
    assert not {k for k in fired(store, client(store, 30), ["cat-cow"]) if "placenta" in k[0]}


@pytest.mark.parametrize("flag", safety.LOW_BACK_RED_FLAGS)
def test_low_back_red_flags_block_and_refer(store: Store, flag: str) -> None:
    findings = safety.check_items(store, client(store, flags=[flag], segments=["desk_worker"]), [("cat-cow", None)], ON)
    assert [(f.rule_id, f.level) for f in findings] == [("low_back_red_flag", "block")]
    assert "same-day medical assessment" in findings[0].reason and safety.HEALTH_FLAGS[flag] in findings[0].reason


def test_pregnancy_without_care_provider_clearance_warns(store: Store) -> None:
    key = ("pregnancy_not_cleared", None, "warn")
    assert key in fired(store, client(store, 24, care_provider_cleared_on=None), ["cat-cow"])
    assert key not in fired(store, client(store, 24), ["cat-cow"])              # cleared on ON
    # checked on a day before the clearance, it is not there yet; none is needed when not pregnant
    assert key in fired(store, client(store, 24), ["cat-cow"], ON - timedelta(days=1))
    assert key not in fired(store, client(store, segments=["runner"]), ["cat-cow"])
    with pytest.raises(clients.ClientError, match="needs a due date"):
        client(store, care_provider_cleared_on=ON)
    with pytest.raises(clients.ClientError, match="before the pregnancy began"):
        client(store, 8, care_provider_cleared_on=ON - timedelta(weeks=9))


@pytest.mark.parametrize("flag", ["heart_disease", "restrictive_lung_disease", "multiple_gestation_preterm_risk",
                                  "severe_anaemia", "cervical_insufficiency"])
def test_acog_contraindications_block_until_cleared_or_overridden(store: Store, flag: str) -> None:
    assert ("pregnancy_needs_clearance", None, "block") in fired(store, client(store, 20, flags=[flag]), ["cat-cow"])


@pytest.mark.parametrize("flag", safety.LOW_BACK_HISTORY_FLAGS)
def test_nice_history_flags_warn(store: Store, flag: str) -> None:
    findings = safety.check_items(store, client(store, flags=[flag], segments=["desk_worker"]), [("cat-cow", None)], ON)
    assert [(f.rule_id, f.level) for f in findings] == [("low_back_history_flag", "warn")]
    assert safety.HEALTH_FLAGS[flag] in findings[0].reason


def test_hypermobility_warns_on_end_range_and_deep_hip_flexion(store: Store) -> None:
    loose = client(store, flags=["hypermobility"], segments=["runner"])
    assert ("hypermobility_end_range", "butterfly-stretch", "warn") in fired(store, loose, ["butterfly-stretch"])
    assert ("hypermobility_end_range", "knee-to-chest", "warn") in fired(store, loose, ["knee-to-chest"])
    assert not fired(store, loose, ["cat-cow", "glute-bridge"])
    assert not fired(store, client(store, segments=["runner"]), ["butterfly-stretch"])


def test_knee_pain_warns_on_a_twisted_knee_not_kneeling(store: Store) -> None:
    sore_knee = client(store, flags=["knee_pain"], segments=["runner"])
    assert fired(store, sore_knee, ["pigeon-pose"]) == {("knee_pain_twist", "pigeon-pose", "warn")}


def test_knee_pain_substitutes_do_not_prefer_lunges() -> None:
    assert "lunge" not in safety.RULES_BY_ID["knee_pain_kneeling"].prefer_positions
    assert safety.RULES_BY_ID["pregnancy_supine_from_week_20"].prefer_positions[0] == "inclined"


def test_sources_are_true() -> None:
    assert "Committee Opinion 804" in safety.ACOG and "docs/" not in safety.ACOG
    assert "no cited source" in safety.RULES_BY_ID["too_many_exercises"].source


def test_knee_pain_warns_on_kneeling(store: Store) -> None:
    key = ("knee_pain_kneeling", "kneeling-hip-flexor-stretch", "warn")
    assert key in fired(store, client(store, flags=["knee_pain"]), ["kneeling-hip-flexor-stretch"])
    assert key not in fired(store, client(store), ["kneeling-hip-flexor-stretch"])
    assert not fired(store, client(store, flags=["knee_pain"]), ["side-lying-clamshell"])
    add_exercise(store, "tall-kneeling-hold", "kneeling")          # position without the tag
    assert ("knee_pain_kneeling", "tall-kneeling-hold", "warn") in fired(
        store, client(store, flags=["knee_pain"]), ["tall-kneeling-hold"])


@pytest.mark.parametrize("flag", ["diastasis_recti", "postpartum"])
def test_abdominal_load_warns_with_diastasis_or_after_birth(store: Store, flag: str) -> None:
    key = ("abdominal_load_diastasis_postpartum", "leg-lowering", "warn")
    assert key in fired(store, client(store, flags=[flag]), ["leg-lowering"])
    assert key not in fired(store, client(store, flags=["knee_pain"]), ["leg-lowering"])
    assert not fired(store, client(store, flags=[flag]), ["glute-bridge"])


def test_more_than_eight_exercises_in_one_session_is_a_note(store: Store) -> None:
    runner = client(store, segments=["runner"])
    nine = ["cat-cow", "hip-circles", "glute-bridge", "side-lying-clamshell", "butterfly-stretch", "pigeon-pose",
            "standing-lunge-stretch", "leg-raise", "knee-to-chest"]
    findings = safety.check_items(store, runner, [(e, None) for e in nine], ON, suggest=False)
    assert [(f.rule_id, f.level, f.reason[:12]) for f in findings] == [("too_many_exercises", "info", "9 exercises ")]
    assert not fired(store, runner, nine[:8])
    split = [(e, "morning" if n < 5 else "evening") for n, e in enumerate(nine)]   # 5 + 4: two sessions
    assert not safety.check_items(store, runner, split, ON, suggest=False)


def test_every_rule_is_exercised_by_these_tests() -> None:
    tested = {
        "pregnancy_supine_from_week_20", "pregnancy_prone_from_week_13", "pregnancy_end_range_hip",
        "pregnancy_balance_third_trimester", "pregnancy_not_suited", "pregnancy_stage_unknown",
        "pregnancy_needs_clearance", "pregnancy_placenta_previa_after_26", "pregnancy_placenta_previa_before_26",
        "low_back_red_flag", "knee_pain_kneeling", "abdominal_load_diastasis_postpartum", "too_many_exercises",
        "pregnancy_not_cleared", "low_back_history_flag", "hypermobility_end_range", "knee_pain_twist",
    }
    assert tested == set(safety.RULES_BY_ID)


def test_rule_data_uses_known_flags_and_tags() -> None:
    assert list(safety.HEALTH_FLAGS) == [
        "knee_pain", "hypermobility", "diastasis_recti", "postpartum", "placenta_previa", "heart_disease",
        "restrictive_lung_disease", "multiple_gestation_preterm_risk", "severe_anaemia", "preeclampsia",
        "ruptured_membranes", "preterm_labour", "cervical_insufficiency", "persistent_bleeding",
        "saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness", "cancer_history", "osteoporosis",
        "steroid_use", "recent_trauma"]
    cautions = set(Caution.__args__)
    for rule in safety.RULES:
        assert set(rule.flags_any) <= set(safety.HEALTH_FLAGS), rule.id
        assert set(rule.cautions_any) <= cautions, rule.id
        assert rule.level in safety.LEVELS and rule.reason and rule.source


# -- substitutes ---------------------------------------------------------------------------------------------

def test_substitutes_share_a_target_suit_the_client_and_are_safe(store: Store) -> None:
    pregnant = client(store, 24)

    def substitute(items: list[str], exercise: str, client_id: int = pregnant) -> str | None:
        findings = safety.check_items(store, client_id, [(e, None) for e in items], ON)
        return next(f.substitute_id for f in findings if f.exercise_id == exercise and f.level == "warn")

    # glute work lying down -> the side-lying glute exercise (the position the rule recommends)
    assert substitute(["glute-bridge"], "glute-bridge") == "side-lying-clamshell"
    # a hip flexor stretch lying down -> the static hip flexor stretches suited to pregnancy tie on
    # every preference, so the name decides; one already in the routine gives way to the other
    assert substitute(["supported-leg-drop"], "supported-leg-drop") == "kneeling-hip-flexor-stretch"
    assert substitute(["supported-leg-drop", "kneeling-hip-flexor-stretch"], "supported-leg-drop") == "standing-lunge-stretch"
    # with knee pain the kneeling stretch is itself unsafe, so it is never offered
    sore_knee = client(store, 24, flags=["knee_pain"])
    assert substitute(["supported-leg-drop"], "supported-leg-drop", sore_knee) == "standing-lunge-stretch"


def test_no_substitute_carries_a_warning_for_the_same_client(store: Store) -> None:
    late = client(store, 32, flags=["knee_pain"])
    everything = [e for (e,) in store.rows("SELECT id FROM exercises WHERE active ORDER BY id")]
    offered = {f.substitute_id for f in safety.check_items(store, late, [(e, None) for e in everything], ON) if f.substitute_id}
    assert offered
    for exercise in offered:
        assert not [f for f in safety.check_items(store, late, [(exercise, None)], ON, suggest=False)
                    if f.exercise_id and f.level in ("warn", "block")], exercise


def test_findings_come_worst_first_with_names(store: Store) -> None:
    findings = safety.check_items(store, client(store, 24, flags=["knee_pain", "saddle_numbness"]),
                             [("glute-bridge", None), ("kneeling-hip-flexor-stretch", None)], ON)
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=safety.LEVELS.index) and levels[0] == "block"
    bridge = next(f for f in findings if f.exercise_id == "glute-bridge")
    assert bridge.exercise_name == "Glute bridge" and bridge.as_dict()["substitute"]["exercise_id"]
    assert safety.findings_table(findings)[0]["exercise"] == "(whole routine)"


def test_the_rules_document_lists_every_rule() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "practice/safety-rules.md").read_text(encoding="utf-8")
    for rule in safety.RULES:
        assert f"| `{rule.id}` | {rule.level} |" in text, rule.id
