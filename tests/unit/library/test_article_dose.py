"""Reading a dose from an article's words: every phrasing the import must understand."""

from __future__ import annotations

import pytest

from core.library.article_dose import DoseDraft, is_dose_only, normalize, read_dose

D = DoseDraft


@pytest.mark.parametrize(("text", "expected"), [
    # holds, with hyphen, en-dash, "to" and number words
    ("Hold for 20-30 seconds.", D(hold_s=(20, 30))),
    ("Hold for 30 seconds to one minute.", D(hold_s=(30, 60))),
    ("Stay there for thirty seconds to a minute.", D(hold_s=(30, 60))),
    ("Hold 30–60 seconds.", D(hold_s=(30, 60))),
    ("Hold for 20 to 30 seconds.", D(hold_s=(20, 30))),
    ("Stay for 2 to 5 minutes.", D(hold_s=(120, 300))),
    ("Hold for one minute.", D(hold_s=(60, 60))),
    ("Hold for a minute and a half.", D(hold_s=(90, 90))),
    ("Rest in a 30-second hold.", D(hold_s=(30, 30))),
    # sets x time, sets x reps
    ("2 × 30–45 seconds per side", D(hold_s=(30, 45), sets=(2, 2), per_side=True)),
    ("2–3 × 30–60 seconds per side", D(hold_s=(30, 60), sets=(2, 3), per_side=True)),
    ("3 x 15 seconds per leg", D(hold_s=(15, 15), sets=(3, 3), per_side=True)),
    ("3x10", D(reps=(10, 10), sets=(3, 3))),
    # reps and sets
    ("Move in and out for 8–12 slow reps.", D(reps=(8, 12))),
    ("2–3 sets of 10–15 reps", D(reps=(10, 15), sets=(2, 3))),
    ("2 sets of 12", D(reps=(12, 12), sets=(2, 2))),
    ("Do ten slow reps on each side.", D(reps=(10, 10), per_side=True)),
    ("Work up to 10 repetitions.", D(reps=(10, 10))),
    ("Start with 5 and work up to 12 reps.", D(reps=(5, 12))),
    ("8 to 10 controlled reps per side.", D(reps=(8, 10), per_side=True)),
    ("Sets: 3, Reps: 12", D(reps=(12, 12), sets=(3, 3))),
    # "N times": sets for a hold, reps otherwise
    ("Hold 20–30 seconds, then release and repeat 2–3 times each side.",
     D(hold_s=(20, 30), sets=(2, 3), per_side=True)),
    ("Switch sides and repeat 2–3 times per side.", D(reps=(2, 3), per_side=True)),
    ("Repeat 10 times on each side.", D(reps=(10, 10), per_side=True)),
    ("Hold 45 seconds, twice.", D(hold_s=(45, 45), sets=(2, 2))),
    ("Stay for five breaths, then repeat twice.", D(breaths=(5, 5), sets=(2, 2))),
    ("Do 2 sets, repeating 8 times.", D(reps=(8, 8), sets=(2, 2))),
    # breaths
    ("Stay for 5 slow breaths.", D(breaths=(5, 5))),
    ("Hold for 3–5 deep breaths.", D(breaths=(3, 5))),
    # sides
    ("Hold for 20-30 seconds and switch sides.", D(hold_s=(20, 30), per_side=True)),
    ("Hold for 30 seconds on each leg.", D(hold_s=(30, 30), per_side=True)),
    ("Bring the leg back up and alternate sides.", D(per_side=True)),
    ("Repeat on the other side, alternating between right leg and left leg.", D(per_side=True)),
    ("Hold for 30 seconds, switch legs, and repeat.", D(hold_s=(30, 30), per_side=True)),
    ("Stay for five breaths and then do the other side.", D(breaths=(5, 5), per_side=True)),
])
def test_dose_phrasings(text: str, expected: DoseDraft) -> None:
    assert read_dose(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Rest 30 seconds between sets.", D()),
    ("Hold for 20 seconds, then rest for 10 seconds.", D(hold_s=(20, 20))),
    ("Hold 15 seconds with a 15-second rest.", D(hold_s=(15, 15))),
    ("Do 10 reps; 30 seconds rest between rounds.", D(reps=(10, 10))),
    ("Total: 10–15 minutes.", D()),
    ("Stand up and walk every 30–60 minutes.", D()),
    ("Stretch for 10 minutes a day.", D()),
    ("Light cardio such as walking for 5-10 minutes.", D()),
    ("Aim for 3–4 times per week.", D()),
    ("Keep the front knee bent at 90 degrees.", D()),
    ("Extend the opposite leg straight back.", D()),
    ("Keep the other leg flat on the floor.", D()),
    ("Alternate between arching and rounding your back.", D()),
    ("Hold for 45 minutes.", D()),                     # beyond 600 s: not a hold
    ("Do 200 reps.", D()),                             # beyond 100 reps
    ("Lower over 3 seconds, 10 reps.", D(reps=(10, 10), seconds_per_rep=3.0)),
])
def test_not_a_hold_and_limits(text: str, expected: DoseDraft) -> None:
    assert read_dose(text) == expected


def test_normalize_turns_words_into_digits() -> None:
    assert normalize("Twenty-five seconds, twice, ten reps") == "25 seconds, 2 times, 10 reps"
    assert normalize("half a minute") == "30 seconds"
    assert normalize("2×30 – 45 s") == "2 x 30 - 45 s"


@pytest.mark.parametrize(("text", "dose_only"), [
    ("2 × 30–45 seconds per side", True),
    ("8–12 controlled reps per side", True),
    ("Dose: 2–3 sets of 10–15 reps", True),
    ("Hold 30–60 seconds, breathing deeply into your belly.", False),
    ("Lie on your back.", False),
    ("Keep your back straight.", False),
])
def test_is_dose_only(text: str, dose_only: bool) -> None:
    assert is_dose_only(text) is dose_only


def test_dose_dict_round_trip() -> None:
    dose = D(hold_s=(30, 60), sets=(2, 3), per_side=True)
    data = dose.to_dict()
    assert data == {"hold_s": [30, 60], "reps": None, "sets": [2, 3], "breaths": None, "per_side": True,
                    "seconds_per_rep": None, "duration_s": None}
    assert D.from_dict(data) == dose
    assert D.from_dict({"hold_s": [60, 30], "reps": "x", "per_side": "yes"}) == D(hold_s=(30, 60))
    assert D.from_dict(None) == D()


def test_filled_from_keeps_own_fields() -> None:
    own = D(hold_s=(20, 30))
    other = D(hold_s=(30, 60), sets=(2, 3), per_side=True)
    assert own.filled_from(other) == D(hold_s=(20, 30), sets=(2, 3), per_side=True)
    assert not own.is_empty() and D().is_empty()
    assert D(per_side=True).has_amount() is False and own.has_amount() is True


@pytest.mark.parametrize(("text", "expected"), [
    # reps without the word "reps"
    ("10 each leg", D(reps=(10, 10), per_side=True)),
    ("Ten on each side.", D(reps=(10, 10), per_side=True)),
    ("Do twelve lifts on each side.", D(reps=(12, 12), per_side=True)),
    ("6 to 10 slides on each leg.", D(reps=(6, 10), per_side=True)),
    ("10 slow hinges.", D(reps=(10, 10))),
    ("Do 10 on each side.", D(reps=(10, 10), per_side=True)),
    ("Dose: 10 to each side", D(reps=(10, 10), per_side=True)),
    ("10/side", D(reps=(10, 10), per_side=True)),
    ("10-12 (each leg)", D(reps=(10, 12), per_side=True)),
    ("→ 10", D(reps=(10, 10))),
    ("x10", D(reps=(10, 10))),
    ("15 reps x 2", D(reps=(15, 15), sets=(2, 2))),
    # "Repeat 2–3 times" after a count is sets
    ("Do 10, then rest and repeat 2-3 times.", D(reps=(10, 10), sets=(2, 3))),
    ("twelve lifts, rest, then repeat 2–3 times", D(reps=(12, 12), sets=(2, 3))),
    ("Reps: 15, rest, then repeat 2-3 times", D(reps=(15, 15), sets=(2, 3))),
    # rounds
    ("3 rounds of 8", D(reps=(8, 8), sets=(3, 3))),
    ("Six to eight slow rounds.", D(reps=(6, 8))),                  # rounds of a movement are reps
    ("Hold 30 seconds, 3 rounds", D(hold_s=(30, 30), sets=(3, 3))),  # rounds of a hold are sets
    # sets x time, twice after a range
    ("3 x 20 seconds per side", D(hold_s=(20, 20), sets=(3, 3), per_side=True)),
    ("30-45 seconds per side, twice", D(hold_s=(30, 45), sets=(2, 2), per_side=True)),
    ("Hold 30 seconds, then switch sides. Repeat three times.", D(hold_s=(30, 30), sets=(3, 3), per_side=True)),
    # a short hold repeated is reps; a long one is sets
    ("Hold 5 seconds, 10 times", D(hold_s=(5, 5), reps=(10, 10))),
    ("Dose: hold 5 seconds, repeat 10 times", D(hold_s=(5, 5), reps=(10, 10))),
    ("Dose: 20-30 seconds, 3 times each leg", D(hold_s=(20, 30), sets=(3, 3), per_side=True)),
    ("10 seconds, then swap feet. 3 times each.", D(hold_s=(10, 10), sets=(3, 3), per_side=True)),
    # a duration is not a hold
    ("Continue for one minute.", D(duration_s=(60, 60))),
    ("Keep going for 30 seconds, moving with your breath.", D(duration_s=(30, 30))),
    ("Hold for one minute.", D(hold_s=(60, 60))),
    # breaths
    ("5 slow breaths", D(breaths=(5, 5))),
    ("Stay for 8 slow breaths on each side.", D(breaths=(8, 8), per_side=True)),
    ("8 breaths, twice a day.", D(breaths=(8, 8))),                 # a schedule, not sets
    # per side
    ("Hold 15-20 seconds, both sides.", D(hold_s=(15, 20), per_side=True)),
    ("5 circles each way, both legs.", D(reps=(5, 5), per_side=True)),
    ("Hold for 20 seconds, then switch sides.", D(hold_s=(20, 20), per_side=True)),
    ("Eight per leg.", D(reps=(8, 8), per_side=True)),
    # a distance gives only the sets
    ("2 x 20 metres", D(sets=(2, 2))),
])
def test_issue_phrasings(text: str, expected: DoseDraft) -> None:
    assert read_dose(text) == expected


@pytest.mark.parametrize("text", [
    "Sit with both feet flat on the floor.",          # "both feet" is not per side
    "Bend both knees.",
    "These three moves take ten minutes.",           # moves and minutes are not reps or a hold
    "Walk for 5 minutes first.",
    "Do it once or twice a week.",
])
def test_counts_that_are_not_a_dose(text: str) -> None:
    assert read_dose(text) == D()
