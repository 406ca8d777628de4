from core.library.search import LibraryFilter, facet_values, format_dose, get_exercise, list_exercises
from core.db.store import Store


def ids(store: Store, **kwargs) -> set[str]:
    return set(list_exercises(store, LibraryFilter(**kwargs))["id"])


def test_search_matches_name_and_alias_case_insensitively(store: Store) -> None:
    assert "glute-bridge" in ids(store, text="BRIDGE POSE")
    assert "kneeling-hip-flexor-stretch" in ids(store, text="kneeling lunge")
    assert ids(store, text="no such exercise") == set()


def test_search_treats_like_wildcards_literally(store: Store) -> None:
    assert ids(store, text="%") == set()
    assert ids(store, text="_") == set()


def test_filters_combine_or_within_and_across_facets(store: Store) -> None:
    supine = ids(store, positions=("supine",))
    side = ids(store, positions=("side_lying",))
    assert "side-lying-clamshell" in side and "supported-leg-drop" in supine
    assert ids(store, positions=("supine", "side_lying")) == supine | side
    strength_supine = ids(store, positions=("supine",), kinds=("strength",))
    assert strength_supine and strength_supine <= supine
    assert all(get_exercise(store, i)["kind"] == "strength" for i in strength_supine)


def test_caution_and_exclusion_filters(store: Store) -> None:
    with_supine = ids(store, cautions=("supine",))
    assert "supported-leg-drop" in with_supine
    without = ids(store, exclude_cautions=("supine",))
    assert with_supine.isdisjoint(without)
    assert with_supine | without == ids(store)


def test_facet_values_list_what_is_in_use(store: Store) -> None:
    values = facet_values(store)
    assert "static_stretch" in values["kind"]
    assert "psoas" in values["target"]
    assert set(values["audience"]) <= {"pregnant", "runner", "desk_worker"}


def test_exercise_detail_has_everything_the_page_shows(store: Store) -> None:
    ex = get_exercise(store, "kneeling-hip-flexor-stretch")
    assert ex["steps"] and ex["sources"] and "kneeling" in ex["cautions"]
    assert ex["dose"]["per_side"] is True
    assert get_exercise(store, "no-such-id") is None


def test_format_dose_reads_like_a_prescription() -> None:
    row = {"hold_min_s": 30, "hold_max_s": 60, "sets_min": 2, "sets_max": 3, "per_side": True,
           "reps_min": None, "reps_max": None, "breaths_min": None, "breaths_max": None}
    assert format_dose(row) == "2–3 × 30–60 s per side"
    reps = {"reps_min": 10, "reps_max": 15, "sets_min": 2, "sets_max": 2, "per_side": False}
    assert format_dose(reps) == "2 × 10–15 reps"
    assert format_dose({"breaths_min": 5, "breaths_max": 5, "per_side": False}) == "5 breaths"


def test_search_finds_names_containing_wildcard_characters(store: Store) -> None:
    with store.transaction() as cur:
        cur.execute("UPDATE exercises SET name = '90/90_hip switch 100%' WHERE id = 'hip-circles'")
    assert ids(store, text="90_hip") == {"hip-circles"}
    assert ids(store, text="100%") == {"hip-circles"}
    assert ids(store, text="0_h") == {"hip-circles"}
    assert ids(store, text="9%h") == set()
