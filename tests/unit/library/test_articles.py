"""Reading exercises, doses and routines out of articles (our fixtures and the seed articles)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.library.article_dose import DoseDraft
from core.library.article_match import LibraryEntry
from core.library.articles import (
    ArticleDrafts,
    article_text,
    guess_position,
    html_to_text,
    is_instruction,
    read_article,
    read_article_file,
    split_name,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "articles"
SEEDS = Path(__file__).resolve().parents[3].parent / "shared" / "seeds"
D = DoseDraft


def read_fixture(name: str, library: list[LibraryEntry] | None = None) -> ArticleDrafts:
    path = FIXTURES / name
    return read_article_file(path.read_bytes(), path.name, library or [])


def by_name(drafts: ArticleDrafts) -> dict[str, DoseDraft]:
    return {e.name: e.dose for e in drafts.exercises}


def skipped(drafts: ArticleDrafts) -> dict[str, str]:
    return {s.heading: s.reason for s in drafts.skipped}


# -- our own articles, one layout each --------------------------------------------------------------

def test_emoji_bullets_markdown_headings_dose_on_its_own_line() -> None:
    drafts = read_fixture("emoji_desk_breaks.md")
    assert by_name(drafts) == {
        "Seated figure-four stretch": D(hold_s=(15, 15), sets=(3, 3), per_side=True),
        "Standing hip flexor stretch": D(hold_s=(30, 60), per_side=True),
        "Seated knee lifts": D(reps=(10, 15), sets=(2, 3), per_side=True),
    }
    first = drafts.exercises[0]
    assert first.steps == [
        "Sit near the front of a sturdy chair with both feet flat on the floor.",
        "Cross your right ankle over your left knee and let the right knee drop.",
        "Keep your chest lifted and hinge forward a little from the hips.",
    ]  # emoji gone, the dose-only line is not a step
    assert [e.position for e in drafts.exercises] == ["seated", "standing", "seated"]
    assert skipped(drafts)["💡 Tips for desk workers"] == "tips"


def test_bold_pseudo_headings_tips_and_bio_are_not_exercises() -> None:
    drafts = read_fixture("bold_runner_cooldown.txt")
    assert by_name(drafts) == {
        "Low lunge with a pelvic tuck": D(hold_s=(30, 45), sets=(2, 2), per_side=True),
        "Hamstring sweep": D(reps=(8, 12), per_side=True),
        # "Rest 30 seconds between sets" is a rest, not a hold
        "Glute bridge march": D(reps=(10, 10), per_side=True),
    }
    bridge = drafts.exercises[2]
    assert "Work up to 10 repetitions." not in bridge.steps  # a dose sentence is the dose, not a step
    assert bridge.cues == ["Rest 30 seconds between sets."]
    assert bridge.position == "supine" and bridge.kind == "strength"
    assert drafts.exercises[0].position == "half_kneeling"  # "kneel on your right knee"
    assert skipped(drafts) == {"": "introduction", "Tips": "tips", "About the author": "author bio"}


def test_plain_paragraphs_with_number_words() -> None:
    drafts = read_fixture("plain_paragraphs.txt")
    assert by_name(drafts) == {
        "Knee hug": D(breaths=(5, 5), per_side=True),
        "Supported bridge": D(hold_s=(30, 60)),
        "Side-lying clamshell": D(reps=(10, 10), per_side=True),
    }
    assert drafts.exercises[0].steps == [
        "Lie on your back with both legs long.",
        "Draw your right knee toward your chest and hold it with both hands.",
        "Stay for 5 slow breaths, then switch sides.",
    ]
    assert [e.position for e in drafts.exercises] == ["supine", "supine", "side_lying"]
    # the FAQ answer says "Hold for about 30 seconds" but is not an exercise
    assert skipped(drafts) == {"Questions we hear": "faq", "Final thoughts": "conclusion"}


def test_numbered_headings_and_a_routine_sequence() -> None:
    drafts = read_fixture("numbered_evening.txt")
    assert by_name(drafts) == {
        "Child's Pose": D(hold_s=(20, 30)),
        "Half-Kneeling Hip Flexor Stretch": D(hold_s=(30, 30), sets=(2, 3), per_side=True),
        "Supine Twist": D(breaths=(5, 5), sets=(2, 2), per_side=True),
        "Legs Up the Wall": D(hold_s=(120, 300)),
    }
    assert drafts.exercises[3].kind is None  # the words do not say; never invented
    [routine] = drafts.routines
    assert routine.name == "A simple evening sequence"
    assert [(i.name, i.dose, i.exercise_index) for i in routine.items] == [
        ("Child's pose", D(breaths=(3, 3)), 0),
        ("Half-kneeling hip flexor stretch", D(hold_s=(30, 30), sets=(2, 2), per_side=True), 1),
        ("Supine twist", D(breaths=(5, 5), per_side=True), 2),
        ("Legs up the wall", D(hold_s=(180, 180)), 3),
    ]
    assert skipped(drafts)["Safety notes"] == "safety"


def test_html_scripts_styles_and_navigation_are_dropped() -> None:
    drafts = read_fixture("studio_handout.html")
    assert by_name(drafts) == {
        "Frog stretch": D(hold_s=(45, 45), sets=(2, 2)),
        "Standing quad stretch": D(hold_s=(20, 30), per_side=True),
        "Hip airplane": D(reps=(8, 10), per_side=True),
    }
    text = html_to_text((FIXTURES / "studio_handout.html").read_text())
    for dropped in ("99 seconds", "console.log", "font-weight", "Blog", "every hour", "html\n"):
        assert dropped not in text
    assert "### Frog stretch\n\n1. Start on your hands and knees on a padded mat." in text
    assert skipped(drafts) == {
        "See also: our desk-break guide": "see also",
        "Studio handout: hip openers for beginners": "introduction",
        "Frequently asked questions": "faq",
        "How long should I hold each stretch?": "faq",
        "About the author": "author bio",
    }


def test_markdown_continuation_headings_cues_and_mistakes() -> None:
    drafts = read_fixture("markdown_headings.md")
    circles, lunge = drafts.exercises
    assert (circles.name, circles.dose) == ("Standing hip circles", D(reps=(8, 12), per_side=True))
    assert circles.steps[-1] == "Change direction halfway through."  # the dose sentence is not a step
    assert circles.mistakes == ["Swinging from the knees instead of the hips.", "Holding the breath."]
    assert (circles.kind, circles.position) == ("mobility", "standing")
    assert (lunge.name, lunge.dose) == ("Supported lunge stretch", D(hold_s=(30, 60), per_side=True))
    assert lunge.cues == ["Keep the back heel lifted."]
    assert skipped(drafts) == {
        "Gentle hip mobility for new clients": "introduction",
        "Safety notes": "safety",
        "Why we teach these first": "background",
        "See also": "see also",
    }


def test_blog_html_with_bold_paragraph_headings() -> None:
    html = """<div class="entry"><p>Two moves our physios like.</p>
    <p><strong>1. Bird dog</strong></p>
    <p>From all fours, reach your right arm forward and your left leg back. Hold for 5 seconds, then switch.
    Do 8 reps per side.</p>
    <ul><li><strong>Knee hug</strong><ul><li>Lie on your back.</li><li>Hug one knee for 30 seconds.</li></ul></li></ul>
    <h2>Related posts</h2><ul><li><a href="#">More stretches</a></li></ul></div>"""
    drafts = read_article(html)
    assert [(e.name, e.steps, e.dose) for e in drafts.exercises] == [
        ("Bird dog", ["From all fours, reach your right arm forward and your left leg back.",
                      "Hold for 5 seconds, then switch."],  # "Do 8 reps per side." is the dose
         D(hold_s=(5, 5), reps=(8, 8), per_side=True)),
        ("Knee hug", ["Lie on your back.", "Hug one knee for 30 seconds."], D(hold_s=(30, 30))),
    ]
    assert skipped(drafts)["Related posts"] == "see also"


def test_markdown_numbered_first_heading_is_not_a_title() -> None:
    text = ("### 1) Dead bug\n\n* Lie on your back with knees over hips.\n* Lower one heel and return. "
            "Alternate legs.\n* 3 sets of 8 reps\n\n### 2) Side plank\n\nLie on your side on one elbow. "
            "Lift your hips and hold 20–30 seconds each side.\n\n### Take-home tips\n\n* Hold each move for 30 seconds.\n")
    drafts = read_article(text)
    assert by_name(drafts) == {"Dead bug": D(reps=(8, 8), sets=(3, 3), per_side=True),
                               "Side plank": D(hold_s=(20, 30), per_side=True)}
    assert skipped(drafts) == {"Take-home tips": "tips"}


def test_library_match_on_fixture() -> None:
    library = [LibraryEntry("kneeling-hip-flexor-stretch", "Kneeling hip flexor stretch",
                            ("Half-kneeling psoas stretch",)),
               LibraryEntry("side-lying-clamshell", "Side-lying clamshell", ("Clamshell",))]
    numbered = read_fixture("numbered_evening.txt", library)
    assert [e.match.exercise_id if e.match else None for e in numbered.exercises] == [
        None, "kneeling-hip-flexor-stretch", None, None]
    assert numbered.routines[0].items[1].match.exercise_id == "kneeling-hip-flexor-stretch"
    plain = read_fixture("plain_paragraphs.txt", library)
    assert plain.exercises[2].match.exercise_id == "side-lying-clamshell"


# -- the JSON contract ---------------------------------------------------------------------------

def test_json_contract() -> None:
    data = json.loads(read_fixture("numbered_evening.txt").to_json())
    assert set(data) == {"exercises", "routines", "skipped", "title"}
    assert data["title"] == "Evening unwind: four gentle moves"
    exercise = data["exercises"][1]
    assert {"name", "steps", "dose", "position", "kind", "match"} <= set(exercise)
    assert exercise["dose"] == {"hold_s": [30, 30], "reps": None, "sets": [2, 3], "breaths": None,
                                "per_side": True, "seconds_per_rep": None, "duration_s": None}
    assert exercise["match"] is None and exercise["position"] == "half_kneeling"
    assert data["routines"][0]["items"][0] == {
        "name": "Child's pose", "dose": {"hold_s": None, "reps": None, "sets": None, "breaths": [3, 3],
                                         "per_side": None, "seconds_per_rep": None, "duration_s": None},
        "match": None, "exercise_index": 0, "slot": None, "note": None}
    assert {"heading": "Safety notes", "reason": "safety"} in data["skipped"]


def test_reading_is_deterministic() -> None:
    raw = (FIXTURES / "bold_runner_cooldown.txt").read_text()
    assert read_article(raw).to_json() == read_article(raw).to_json()


# -- small rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("heading", "expected"), [
    ("Kneeling Lunge Stretch (Hip Flexor Stretch)", ("Kneeling Lunge Stretch", ["Hip Flexor Stretch"], "")),
    ("Core psoas stretch: kneeling hip flexor stretch", ("Kneeling hip flexor stretch", [], "")),
    ("4. Cat-Cow Stretch (for Spine Mobility)", ("Cat-Cow Stretch", [], "")),
    ("Glute bridge – 2 x 10 reps", ("Glute bridge", [], "2 x 10 reps")),
    ("Glute bridges (10–15 reps)", ("Glute bridges", [], "10–15 reps")),
    ("🪑 Seated figure-four stretch", ("Seated figure-four stretch", [], "")),
    ("Hip airplane (advanced)", ("Hip airplane", [], "")),
])
def test_split_name(heading: str, expected: tuple[str, list[str], str]) -> None:
    assert split_name(heading) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Lie on your back.", True),
    ("Gently press your hips forward.", True),
    ("Inhale, arch your back.", True),
    ("From all fours, reach your right arm forward.", True),
    ("Lying on your side, lift the top knee.", True),
    ("Kneeling psoas stretch (hip flexor stretch)", False),
    ("In this post, I'll explain the psoas.", False),
    ("Step-ups for strong hips", False),
    ("The psoas connects the spine to the legs.", False),
])
def test_is_instruction(text: str, expected: bool) -> None:
    assert is_instruction(text) is expected


@pytest.mark.parametrize(("name", "steps", "expected"), [
    ("Kneeling Lunge Stretch", ["Begin in a kneeling position with one knee on the ground."], "half_kneeling"),
    ("Pigeon Pose", ["Start on all fours and bring one knee forward."], "all_fours"),
    ("Bridge", ["Lie on your back with your knees bent."], "supine"),
    ("Clamshell", ["Lie on your side with knees bent."], "side_lying"),
    ("Leg lowering", ["Lower one leg slowly while keeping the back flat."], None),
])
def test_guess_position(name: str, steps: list[str], expected: str | None) -> None:
    assert guess_position(name, steps) == expected


def test_article_text_decodes_and_detects_html() -> None:
    assert article_text("Plain words\n".encode("utf-8-sig")) == "Plain words\n"
    assert article_text("caf\xe9".encode("cp1252")) == "café"
    html = "<h2>Knee hug</h2><ol><li>Lie on your back.</li></ol>"
    assert article_text(html) == "## Knee hug\n\n1. Lie on your back.\n"
    assert article_text(html, "notes.txt") == html  # a .txt file is never parsed as HTML


def test_single_exercise_article_uses_its_title() -> None:
    drafts = read_article("# Knee hug\n\n1. Lie on your back.\n2. Hug one knee in for 5 slow breaths.\n")
    assert [(e.name, e.dose) for e in drafts.exercises] == [("Knee hug", D(breaths=(5, 5)))]


@pytest.mark.parametrize("text", ["", "   \n\n", "# Only a heading", "\x00\x01 binary", "<<<>>>", "1.\n2.\n-\n"])
def test_empty_and_odd_input(text: str) -> None:
    drafts = read_article(text)
    assert drafts.exercises == [] and drafts.routines == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_text_is_read_without_error(text: str) -> None:
    json.loads(read_article(text).to_json())


# -- layouts and meanings from issue 21 ------------------------------------------------------------

def test_blocks_found_by_their_shape_emoji_name_arrow_dose() -> None:
    drafts = read_fixture("arrow_menu.md")
    assert by_name(drafts) == {
        "Standing leg swings": D(reps=(10, 10), per_side=True),
        "Sit-to-stand": D(reps=(12, 12), sets=(2, 3)),
        "Wall push-up": D(reps=(8, 8), sets=(3, 3)),
        "Calf raises": D(reps=(15, 15)),
        "Side bend": D(hold_s=(20, 20), sets=(3, 3), per_side=True),
        "Box breathing": D(breaths=(5, 5)),
    }
    assert drafts.exercises[1].steps == ["Sit near the front of a firm chair with your feet under your knees.",
                                         "Stand up without using your hands, then sit back down slowly."]
    assert skipped(drafts) == {"The lunch-break menu: six moves, no mat": "introduction"}


def test_html_paragraph_blocks_and_a_trailing_line() -> None:
    html = ("<h1>Desk menu</h1><p>Pick any three.</p><p>🦵 Leg swings</p><p>Hold a chair and swing your outside "
            "leg forward and back.</p><p>→ 10 each leg</p><p>🪑 Sit-to-stand</p><p>Sit near the front of a firm "
            "chair.</p><p>Stand up without using your hands, then sit down slowly.</p><p>→ twelve lifts, then "
            "repeat 2–3 times</p><p>Enjoy your day!</p>")
    drafts = read_article(html)
    assert by_name(drafts) == {"Leg swings": D(reps=(10, 10), per_side=True),
                               "Sit-to-stand": D(reps=(12, 12), sets=(2, 3))}
    assert len(drafts.exercises[1].steps) == 2


def test_marked_name_a_blank_line_above_its_instructions() -> None:
    text = ("# Three moves\n\nShort intro here.\n\n✦ Hip hinge\n\nStand with feet hip-width apart and push your "
            "hips back.\nReturn to standing.\n\nReps: 10\n\n✦ Dead bug\nA classic for the deep core.\nLie on your "
            "back with arms up and knees over hips.\nLower opposite arm and leg, then switch.\n→ 8 per side\n")
    assert by_name(read_article(text)) == {"Hip hinge": D(reps=(10, 10)),
                                           "Dead bug": D(reps=(8, 8), per_side=True)}


def test_move_prefix_and_a_routine_summary() -> None:
    drafts = read_fixture("move_dash_summary.md")
    assert [e.name for e in drafts.exercises] == ["Cat-cow", "Thread the needle", "World's greatest stretch",
                                                  "Standing hip hinge"]
    assert drafts.exercises[3].dose == D(reps=(10, 10))  # "Do moves 1–4 twice" is not its dose
    [routine] = drafts.routines
    assert [(i.exercise_index, i.dose) for i in routine.items] == [(n, D(sets=(2, 2))) for n in range(4)]
    assert routine.name == "Morning mobility in four moves"


def test_labels_a_caution_and_capital_names() -> None:
    drafts = read_fixture("physio_labels.txt")
    press = drafts.exercises[0]
    assert (press.name, press.position, press.dose) == ("Prone press-up", "prone", D(reps=(10, 10)))
    assert press.steps[0] == "Lie on your stomach with your hands under your shoulders."
    assert press.cautions == ["Stop if the pain spreads further down your leg."]
    text = "CARD 1 — BELLY BREATHING\nLie on your back with your knees bent.\nHow much: 8 breaths, twice a day.\n"
    assert by_name(read_article(text)) == {"Belly breathing": D(breaths=(8, 8))}


def test_table_rows_are_exercises() -> None:
    drafts = read_fixture("table_handout.html")
    assert by_name(drafts) == {
        "Quad sets": D(hold_s=(5, 5), reps=(10, 10)),
        "Straight leg raise": D(reps=(10, 10), sets=(2, 2), per_side=True),
        "Mini squats": D(reps=(12, 12), sets=(3, 3)),
        "Hamstring curl": D(reps=(10, 15), per_side=True),
    }
    markdown = ("| Stretch | How | How long |\n|---|---|---|\n| Calf stretch | Put the ball of your foot against "
                "a step and lean in. | 30 seconds each leg |\n")
    assert by_name(read_article(markdown)) == {"Calf stretch": D(hold_s=(30, 30), per_side=True)}


def test_cautions_are_not_steps_and_dose_sentences_are_the_dose() -> None:
    drafts = read_fixture("bold_leadins.md")
    couch = drafts.exercises[0]
    assert couch.name == "Couch stretch" and couch.dose == D(hold_s=(30, 45), sets=(2, 2), per_side=True)
    assert couch.cautions == ["Avoid this if kneeling hurts your knee; put a folded towel under it or skip it."]
    assert couch.steps == ["Kneel with your back knee close to a wall or sofa and your shin up against it, front "
                           "foot forward in a lunge.", "Squeeze your glutes and bring your trunk upright.",
                           "Hold 30-45 seconds per side, twice."]  # holding is done: a step as well as the dose
    assert couch.targets == ["hip_flexors", "quadriceps"]  # not the glutes of "squeeze your glutes"
    prone = drafts.exercises[3]
    assert prone.cautions == ["Stop if you feel pinching in the lower back."]
    assert not any("Stop if" in s for s in prone.steps)
    bridge = read_fixture("exercise_prefix.txt").exercises[1]
    assert "Do 10, then rest and repeat 2-3 times." not in bridge.steps  # only a dose: not a step


def test_a_wedge_or_pillows_make_the_position_inclined() -> None:
    drafts = read_fixture("prenatal_wedge.md")
    assert [e.position for e in drafts.exercises] == ["inclined", "side_lying", "all_fours", "inclined"]
    assert drafts.exercises[2].dose == D(duration_s=(60, 60))  # "Continue for one minute"
    assert drafts.exercises[0].cautions == ["Stop if you feel dizzy or short of breath."]
    assert guess_position("Knee hug", ["Lie on your back with a pillow under your head."]) == "supine"


def test_bold_lead_in_items_name_exercises_without_an_exercise_word() -> None:
    drafts = read_fixture("numbered_inline.md")
    assert by_name(drafts)["Inchworm"] == D(reps=(6, 6))
    assert by_name(drafts)["Supine strap stretch"] == D(hold_s=(30, 30), sets=(3, 3), per_side=True)
    html = "<ol><li><strong>Leg swings.</strong> Hold a fence with one hand and swing the outside leg. 10 each leg.</li></ol>"
    assert by_name(read_article(html)) == {"Leg swings": D(reps=(10, 10), per_side=True)}


# -- the seed articles ---------------------------------------------------------------------------

def read_seed(prefix: str) -> ArticleDrafts:
    if not SEEDS.is_dir():
        pytest.skip("seed articles not present")
    [path] = SEEDS.glob(f"{prefix}_*.txt")
    return read_article_file(path.read_bytes(), path.name)


def test_seed_000_numbered_list_and_day_routine() -> None:
    drafts = read_seed("000")
    assert [(e.name, e.position) for e in drafts.exercises] == [
        ("Active Psoas Release Variation", "supine"),
        ("Leg Lowering Exercise", None),
        ("Active Psoas Release on Knees and Forearms", "all_fours"),
    ]
    assert drafts.exercises[2].dose == D(per_side=True)  # "alternating sides"; no amount given
    [routine] = drafts.routines
    assert [(i.name, i.slot) for i in routine.items] == [
        ("Morning Warm-Up", "morning"), ("Midday Movement", "midday"), ("Evening Wind-Down", "evening")]
    reasons = skipped(drafts)
    assert reasons["Tips for Proper Form and Avoiding Common Mistakes"] == "tips"
    assert reasons["Morris Tucker"] == "author bio"
    assert reasons["Lower Back Pain"] in ("introduction", "no exercise steps")  # "Imbalance & Strain" list
    assert sum(r == "see also" for r in reasons.values()) == 3


def test_seed_001_four_stretches() -> None:
    drafts = read_seed("001")
    assert by_name(drafts) == {
        "Kneeling Lunge Stretch": D(hold_s=(20, 30), per_side=True),
        "Supine Psoas Stretch": D(hold_s=(20, 30), per_side=True),
        "Pigeon Pose": D(hold_s=(20, 30), per_side=True),
        "Butterfly Stretch": D(hold_s=(20, 30)),
    }
    assert drafts.exercises[0].aliases == ["Hip Flexor Stretch"]
    assert all(len(e.steps) == 4 for e in drafts.exercises)
    reasons = skipped(drafts)
    assert reasons["Tips for Effective Psoas Muscle Stretches"] == "tips"
    assert reasons["Benefits of Psoas Muscle Stretches"] == "benefits"
    assert reasons["Can psoas stretches help with lower back pain?"] == "faq"
    assert reasons["How often should I perform psoas stretches?"] == "faq"


def test_seed_002_exercises_and_daily_routine() -> None:
    drafts = read_seed("002")
    assert by_name(drafts) == {
        "Kneeling hip flexor stretch": D(hold_s=(30, 60), sets=(2, 3), per_side=True),
        "Supported leg drop": D(hold_s=(30, 60), per_side=True),
        "Lunge with arm reach": D(reps=(8, 12), per_side=True),
        "Psoas stretch with trunk twist": D(hold_s=(20, 30), sets=(2, 3), per_side=True),
    }
    kneeling = drafts.exercises[0]
    assert kneeling.position == "half_kneeling" and kneeling.kind == "static_stretch"
    assert kneeling.mistakes[0] == "Arching the lower back instead of tilting the pelvis."
    assert "Kneel on a mat" not in kneeling.steps  # a group title, its bullets are the steps
    assert drafts.exercises[2].kind == "dynamic_stretch"
    [routine] = drafts.routines
    assert routine.name == "Simple daily psoas stretch routine (10–15 minutes)"
    assert [(i.name, i.dose, i.exercise_index) for i in routine.items] == [
        ("Supine psoas stretch", D(hold_s=(30, 45), sets=(2, 2), per_side=True), 1),
        ("Kneeling psoas stretch", D(hold_s=(30, 60), sets=(2, 3), per_side=True), 0),
        ("Kneeling psoas stretch with side-bend and rotation", D(hold_s=(20, 30), sets=(2, 2), per_side=True), None),
        ("Dynamic lunge psoas stretch with arm reach", D(reps=(8, 12), per_side=True), 2),
        ("Counterbalance with light glute work", D(sets=(2, 3)), None),
    ]
    assert "Side-lying clamshells (10–15 reps per side)" in routine.items[4].note
    reasons = skipped(drafts)
    assert reasons["Before you start: key safety tips for psoas stretching"] == "safety"
    assert reasons["A few basics to keep your routine safe and effective"] == "safety"  # no routine
    assert reasons["Best practices to get more from your psoas stretches"] == "tips"
    assert reasons["How often should I do a psoas stretch for tight hips?"] == "faq"


def test_seed_003_five_exercises() -> None:
    drafts = read_seed("003")
    assert by_name(drafts) == {
        "Psoas Stretch": D(hold_s=(30, 60), per_side=True),
        "Bridge Pose": D(hold_s=(10, 20)),
        "Kneeling Hip Flexor Stretch": D(hold_s=(30, 30), per_side=True),
        "Cat-Cow Stretch": D(hold_s=(30, 60)),
        "Leg Lowering": D(per_side=True),
    }
    assert drafts.exercises[0].aliases == ["Lunge Stretch"]
    assert [e.kind for e in drafts.exercises] == ["static_stretch", "strength", "static_stretch", "mobility",
                                                 "strength"]
    assert drafts.routines == []


# Sentences from the seeds' tips, FAQ, safety, bio and background sections that look like steps.
NOT_STEPS = {
    "000": ["Engage the core for stability", "Start with gentle hip flexion stretches", "Dr. Tucker is a pioneer",
            "Overworked hip flexors from prolonged sitting"],
    "001": ["Always warm up before stretching", "Focus on deep, controlled breathing",
            "incorporate psoas stretches into your stretching routine"],
    "002": ["Never force a stretch", "Hold each stretch long enough", "Set a timer to stand and walk",
            "start with supported versions", "Inhale through the nose"],
    "003": ["try these exercises and consider adding bodywork", "Sitting for prolonged periods"],
}


@pytest.mark.parametrize("prefix", sorted(NOT_STEPS))
def test_seed_exercises_never_come_from_tips_faq_or_bio(prefix: str) -> None:
    drafts = read_seed(prefix)
    text = " ".join(" ".join([e.name, *e.steps, *e.cues]) for e in drafts.exercises)
    for sentence in NOT_STEPS[prefix]:
        assert sentence not in text
    assert not {e.name for e in drafts.exercises} & {s.heading for s in drafts.skipped}


def test_seeds_match_the_real_library() -> None:
    """The example from the issue, against the library shipped in data/exercises."""
    if not SEEDS.is_dir():
        pytest.skip("seed articles not present")
    from core.library.content import parse_exercise

    library = [parse_exercise(p.name, p.read_bytes()).meta
               for p in sorted((Path(__file__).resolve().parents[3] / "data" / "exercises").glob("*.md"))]
    [path] = SEEDS.glob("001_*.txt")
    drafts = read_article_file(path.read_bytes(), path.name, library)
    kneeling = drafts.exercises[0]
    assert kneeling.name == "Kneeling Lunge Stretch"
    assert kneeling.match is not None and kneeling.match.exercise_id == "kneeling-hip-flexor-stretch"


def test_dose_and_target_labels_and_a_ratio_in_a_name() -> None:
    text = ("## 1. Knee-to-chest stretch\n**Target:** lower back, glutes\n**How to:**\n- Lie on your back with both "
            "knees bent.\n- Pull one knee toward your chest with both hands.\n**Hold:** 20-30 seconds, 2-3 times "
            "each side\n\n## 2. Cat-cow\n- Start on all fours.\n- Arch and round your back slowly.\n**Reps:** 10\n")
    drafts = read_article(text)
    assert by_name(drafts) == {"Knee-to-chest stretch": D(hold_s=(20, 30), sets=(2, 3), per_side=True),
                               "Cat-cow": D(reps=(10, 10))}
    assert drafts.exercises[0].targets == ["glutes", "lower_back"]
    assert len(drafts.exercises[0].steps) == 2  # the "Hold:" line is the dose
    menu = ("Hip openers\n\n🔸 Lizard\n• Step your right foot outside your right hand in a low lunge.\n"
            "⏱ 30 sec per side\n\n🔸 90/90 switches\n• Sit with both knees bent to 90 degrees.\n"
            "• Rotate both knees to the left without using your hands.\n⏱ 8 switches\n")
    assert by_name(read_article(menu)) == {"Lizard": D(hold_s=(30, 30), per_side=True),
                                           "90/90 switches": D(reps=(8, 8))}
