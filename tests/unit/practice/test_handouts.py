"""Handouts: what the client's PDF carries, and that it is a real PDF with the pages it says."""

import re
from datetime import date, timedelta

import pytest

from core.practice.warning_signs import vocabulary
from core.practice import assignments
from core.practice import clients
from core.practice import handouts
from core.db.store import Store

ON = date(2026, 3, 2)
SUPINE_NOTE = "Do not lie flat on your back"


def pages_in(pdf: bytes) -> int:
    """The page count the PDF's own page tree declares (read from the bytes, not from fpdf)."""
    for block in re.findall(rb"<<(.*?)>>", pdf, re.S):
        if re.search(rb"/Type /Pages\b", block):
            return int(re.search(rb"/Count (\d+)", block)[1])
    raise AssertionError("no page tree in the PDF")


def pregnant_with_daily_routine(store: Store) -> clients.Client:
    ana = clients.create_client(store, {"display_name": "Ana Müller", "therapist": "Ben", "gestation_weeks": 24,
                                  "gestation_on": ON, "care_provider_cleared_on": ON}, "cli", ON)
    assignments.assign(store, ana.code, "daily-psoas-routine", ON, "cli", ON)
    return ana


def test_handout_content_for_a_pregnant_client(store: Store) -> None:
    ana = pregnant_with_daily_routine(store)
    handout = handouts.handout_data(store, ana.code, ON)
    assert (handout.client_name, handout.therapist) == ("Ana Müller", "Ben")
    assert handout.pregnancy.startswith("24+0 weeks pregnant (trimester 2)")
    assert handout.stop_signs == vocabulary().stop_signs()   # the list the session notes are tagged with
    assert "fainting or feeling faint" in handout.stop_signs and "headache" in handout.stop_signs
    (program,) = handout.programs
    assert (program.routine_name, program.start_date, program.last_day) == (
        "Daily psoas routine (10–15 minutes)", ON, date(2026, 3, 29))
    assert program.schedule_text == "7 sessions a week" and program.est_minutes == 14.4
    names = [e.name for e in program.exercises]
    assert names[0] == "Supported leg drop" and names[-1] == "Side-lying clamshell" and len(names) == 6
    drop, kneeling, _, lunge, bridge, clam = program.exercises
    assert drop.dose_text == "2 × 30–45 s per side"
    assert drop.steps[0] == "Lie on your back near the side of a firm bed or a solid bench."
    assert drop.cue and lunge.note == "Slow, controlled repetitions."
    # warnings before notes; exercises without findings carry no care note
    assert drop.care_notes[0].startswith(SUPINE_NOTE) and drop.care_notes[1].startswith("Keep this stretch gentle")
    assert bridge.care_notes == (bridge.care_notes[0],) and bridge.care_notes[0].startswith(SUPINE_NOTE)
    assert clam.care_notes == () and program.program_notes == ()
    # one log-sheet week per program week, Monday to Sunday from the start
    assert [(w.number, w.days[0], w.days[-1]) for w in program.weeks] == [
        (1, date(2026, 3, 2), date(2026, 3, 8)), (2, date(2026, 3, 9), date(2026, 3, 15)),
        (3, date(2026, 3, 16), date(2026, 3, 22)), (4, date(2026, 3, 23), date(2026, 3, 29))]


def test_staff_only_notes_stay_off_the_handout(store: Store) -> None:
    ana = pregnant_with_daily_routine(store)
    program = handouts.handout_data(store, ana.code, ON).programs[0]
    every_note = " ".join(n for e in program.exercises for n in e.care_notes)
    assert "marked as suited to pregnancy" not in every_note    # pregnancy_not_suited has no client note


def test_pdf_is_a_real_pdf_with_everything_written(store: Store) -> None:
    ana = pregnant_with_daily_routine(store)
    rendered = handouts.render_pdf(handouts.handout_data(store, ana.code, ON))
    assert rendered.pdf.startswith(b"%PDF-") and rendered.pdf.rstrip().endswith(b"%%EOF")
    assert rendered.pages == pages_in(rendered.pdf) >= 3
    text = "\n".join(rendered.texts)
    for expected in ("Daily psoas routine (10–15 minutes)", "For Ana Müller (C00001) · therapist: Ben",
                     "Dose: 2–3 × 30–60 s per side", "Take care: " + SUPINE_NOTE, "When to stop",
                     "Log sheet: Daily psoas routine", "Week 4: 23 Mar 2026 to 29 Mar 2026", "Mon 23/3",
                     "Pain before (0–10)"):
        assert expected in text, expected
    assert "Stop exercising and contact your midwife or doctor" in text
    assert handouts.client_handout_pdf(store, ana.code, ON).startswith(b"%PDF-")


def test_longer_programs_get_more_log_weeks_and_pages(store: Store) -> None:
    ben = clients.create_client(store, {"display_name": "Ben", "segments": ["desk_worker"]}, "cli", ON)
    assignments.assign(store, ben.code, "desk-micro-breaks", ON, "cli", ON, weeks=12)
    short = clients.create_client(store, {"display_name": "Cy", "segments": ["desk_worker"]}, "cli", ON)
    assignments.assign(store, short.code, "desk-micro-breaks", ON, "cli", ON, weeks=1)
    long_pdf = handouts.render_pdf(handouts.handout_data(store, ben.code, ON))
    short_pdf = handouts.render_pdf(handouts.handout_data(store, short.code, ON))
    assert "Week 12: 18 May 2026 to 24 May 2026" in long_pdf.texts
    assert long_pdf.pages > short_pdf.pages
    program = handouts.handout_data(store, ben.code, ON).programs[0]
    assert program.schedule_text == "3 times a day, 15 sessions a week in all" and program.times_per_day == 3
    assert handouts.handout_data(store, ben.code, ON).stop_signs == ()       # not pregnant: no pregnancy stop list


def test_an_overridden_block_prints_a_program_note(store: Store) -> None:
    bo = clients.create_client(store, {"display_name": "Bo", "segments": ["runner"], "flags": ["saddle_numbness"]}, "cli", ON)
    assignments.assign(store, bo.code, "runner-warm-up-cool-down", ON, "cli", ON, override_reason="seen by GP, cleared")
    program = handouts.handout_data(store, bo.code, ON).programs[0]
    assert program.program_notes == ("Do not start this program until a doctor has seen you about your symptoms.",)


def test_only_current_programs_are_printed(store: Store) -> None:
    ana = clients.create_client(store, {"display_name": "Ana", "segments": ["runner"]}, "cli", ON)
    with pytest.raises(handouts.HandoutError, match="no current assignment"):
        handouts.handout_data(store, ana.code, ON)
    with pytest.raises(handouts.HandoutError, match="unknown client"):
        handouts.handout_data(store, "nobody", ON)
    first = assignments.assign(store, ana.code, "four-stretch-routine", ON, "cli", ON).assignment
    upcoming = assignments.assign(store, ana.code, "runner-warm-up-cool-down", ON + timedelta(days=14), "cli",
                        ON + timedelta(days=14)).assignment
    assert [p.assignment_id for p in handouts.handout_data(store, ana.code, ON).programs] == [first.id, upcoming.id]
    assignments.end_assignment(store, first.id, ON + timedelta(days=3), "cli")
    assert [p.assignment_id for p in handouts.handout_data(store, ana.code, ON).programs] == [upcoming.id]
    other = clients.create_client(store, {"display_name": "Other"}, "cli", ON)
    with pytest.raises(handouts.HandoutError, match="does not belong"):
        handouts.handout_data(store, other.code, ON, assignment_ids=[upcoming.id])


def test_without_a_unicode_font_the_pdf_still_renders(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ana = pregnant_with_daily_routine(store)
    monkeypatch.setattr(handouts, "FONT_DIRS", ())
    rendered = handouts.render_pdf(handouts.handout_data(store, ana.code, ON))
    assert rendered.pdf.startswith(b"%PDF-") and rendered.pages == pages_in(rendered.pdf)
    # the core font's text is plain in the page streams once decompressed
    import zlib
    streams = b"".join(zlib.decompress(s) for s in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", rendered.pdf, re.S)
                       if s[:2] == b"x\x9c")
    assert b"Dose: 2-3 x 30-60 s per side" in streams


def test_file_names_are_safe() -> None:
    assert handouts.handout_file_name("C00001", ON) == "handout-C00001-2026-03-02.pdf"
    assert handouts.handout_file_name("a/b c", ON) == "handout-a-b-c-2026-03-02.pdf"


def test_a_checkin_link_prints_as_a_qr_code_and_written_link(store: Store) -> None:
    ana = pregnant_with_daily_routine(store)
    url = "https://desk.example.org/?checkin=" + "A" * 43
    plain = handouts.render_pdf(handouts.handout_data(store, ana.code, ON))
    with_link = handouts.render_pdf(handouts.handout_data(store, ana.code, ON, checkin_url=url))
    assert url in with_link.texts and "Log your sessions on your phone" in with_link.texts
    assert url not in plain.texts
    assert with_link.pdf.count(b"/Subtype /Image") == 1 and plain.pdf.count(b"/Subtype /Image") == 0
    png = handouts.checkin_qr_png(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # a version-5 code (37 modules) at error level M holds this 77-character link: 8 px a module
    # with a quiet zone of 4 modules on each side is (37 + 8) x 8 = 360 px square
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (360, 360)


def test_the_handout_speaks_to_the_client_and_day_headings_are_whole(store: Store) -> None:
    ana = pregnant_with_daily_routine(store)
    data = handouts.handout_data(store, ana.code, ON)
    rendered = handouts.render_pdf(data)
    assert handouts.CLIENT_INTRO in rendered.texts
    assert data.programs[0].description not in rendered.texts       # the routine's description is for staff
    day_headings = [t for t in rendered.texts if t[:3] in handouts.WEEKDAY_NAMES and len(t) <= 9]
    assert day_headings and not [t for t in day_headings if "…" in t or "..." in t]
    pdf = handouts._HandoutPdf("footer")
    narrow = handouts._day_header(pdf, ON, 12.0)                    # a cell too narrow for "Mon 23/3"
    assert narrow == f"{handouts.WEEKDAY_NAMES[ON.weekday()]} {ON.day}"
