"""The printable handout: what a client takes home (PDF, made with fpdf2, no browser needed).

Written instructions are followed far better than verbal ones (clinical notes, adherence), so the
handout carries the whole program: who it is for, the schedule, every exercise with its dose and
short steps, the care notes that the safety rules raised for this client, when to stop, and a
tick-box log sheet for every week of the program that the client can bring back.

``handout_data`` gathers the content (tested on its own); ``render_pdf`` only lays it out.

When staff have just made the client's check-in link, the caller passes its URL in (only the
moment of making knows it: the database keeps a fingerprint) and the handout prints it with a QR
code, so the client scans the paper and logs sessions on their phone.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import segno
from fpdf import FPDF

from core.practice.assignments import Assignment, current_assignments, get_assignment
from core.practice.clients import Client, require_client
from core.practice.routines import get_version
from core.practice.safety import LEVELS, RULES_BY_ID, check_routine, pregnancy_stop_signs
from core.db.store import Store

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/usr/local/share/fonts"), Path.home() / ".fonts")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

PAIN_ADVICE = (
    "Some discomfort while you exercise is fine: up to 3 out of 10 is safe and 4 to 5 is acceptable."
    " Stop that exercise if the pain goes above 5 out of 10, and tell your therapist if the pain is"
    " worse the next morning: the load then needs to come down."
)


class HandoutError(ValueError):
    """Nothing to print (no current assignment) or an unknown client."""


@dataclass(frozen=True)
class HandoutExercise:
    name: str
    dose_text: str
    slot: str | None
    note: str | None
    steps: tuple[str, ...]
    cue: str | None
    care_notes: tuple[str, ...]


@dataclass(frozen=True)
class HandoutWeek:
    number: int
    days: tuple[date, ...]          # the 7 days of this program week, from its first day
    last_day: date                  # days after it are outside the program


@dataclass(frozen=True)
class HandoutProgram:
    assignment_id: int
    routine_name: str
    version: int
    description: str | None
    start_date: date
    last_day: date
    schedule_text: str
    times_per_day: int
    est_minutes: float
    minutes_by_slot: dict[str, float]
    exercises: tuple[HandoutExercise, ...]
    program_notes: tuple[str, ...]
    weeks: tuple[HandoutWeek, ...]


@dataclass(frozen=True)
class Handout:
    client_code: str
    client_name: str
    therapist: str | None
    as_of: date
    pregnancy: str | None
    programs: tuple[HandoutProgram, ...]
    stop_signs: tuple[str, ...] = field(default=())
    checkin_url: str | None = None


def _weeks(start: date, last_day: date) -> tuple[HandoutWeek, ...]:
    count = ((last_day - start).days // 7) + 1
    return tuple(
        HandoutWeek(n + 1, tuple(start + timedelta(days=7 * n + d) for d in range(7)), last_day)
        for n in range(count))


def _fired_rules(store: Store, assignment: Assignment, as_of: date) -> set[tuple[str, str | None]]:
    """Rules that fired for this assignment: recorded at review, or firing on ``as_of``."""
    fired = {(r, e) for r, e in store.rows(
        "SELECT rule_id, exercise_id FROM safety_reviews WHERE assignment_id = ?", [assignment.id])}
    check_on = min(max(as_of, assignment.start_date), assignment.last_day)
    fired |= {(f.rule_id, f.exercise_id) for f in check_routine(
        store, assignment.client_id, assignment.routine_id, assignment.routine_version, check_on, suggest=False)}
    return fired


def _schedule_line(sessions_per_week: int, weekdays: str | None, times_per_day: int) -> str:
    """The assigned frequency in the client's words (sessions_per_week counts every session)."""
    days = [d.capitalize() for d in (weekdays or "").split(",") if d]
    if days and len(days) * times_per_day == sessions_per_week:
        when = "on " + ", ".join(days)
        return when + (f", {times_per_day} times a day" if times_per_day > 1 else "")
    if times_per_day > 1:
        return f"{times_per_day} times a day, {sessions_per_week} sessions a week in all"
    return f"{sessions_per_week} session{'s' if sessions_per_week != 1 else ''} a week"


def _program(store: Store, assignment: Assignment, as_of: date) -> HandoutProgram:
    routine = get_version(store, assignment.routine_id, assignment.routine_version)
    fired = _fired_rules(store, assignment, as_of)

    def notes_for(exercise_id: str | None) -> tuple[str, ...]:
        rules = sorted((RULES_BY_ID[rule] for rule, ex in fired if ex == exercise_id and rule in RULES_BY_ID),
                       key=lambda r: (LEVELS.index(r.level), r.id))
        notes = [r.client_note for r in rules if r.client_note]
        return tuple(dict.fromkeys(notes))

    texts = {eid: (json.loads(steps), json.loads(cues)) for eid, steps, cues in store.rows(
        "SELECT id, steps_json, cues_json FROM exercises WHERE id IN (SELECT exercise_id FROM routine_items"
        " WHERE routine_id = ? AND version = ?)", [routine.routine_id, routine.version])}
    exercises = tuple(
        HandoutExercise(
            item["name"], item["dose_text"], item["slot"], item["note"], tuple(texts[item["exercise_id"]][0]),
            texts[item["exercise_id"]][1][0] if texts[item["exercise_id"]][1] else None,
            notes_for(item["exercise_id"]))
        for item in routine.items)
    return HandoutProgram(
        assignment.id, routine.name, routine.version, routine.description, assignment.start_date,
        assignment.last_day, _schedule_line(assignment.sessions_per_week, routine.weekdays, routine.times_per_day),
        routine.times_per_day, routine.est_minutes, routine.minutes_by_slot, exercises, notes_for(None),
        _weeks(assignment.start_date, assignment.last_day))


def handout_data(store: Store, client_ref: str | int, as_of: date,
                 assignment_ids: list[int] | None = None, checkin_url: str | None = None,
                 sites: tuple[str, ...] | None = None) -> Handout:
    """Everything the handout prints for a client's current programs (or the given assignments),
    with the client's check-in link when ``checkin_url`` is given. With ``sites`` (the member's,
    core.access.sites.allowed_sites) a client of another site is unknown."""
    try:
        client: Client = require_client(store, client_ref, sites)
    except ValueError as exc:
        raise HandoutError(str(exc)) from exc
    if assignment_ids:
        assignments = [get_assignment(store, i) for i in assignment_ids]
        if any(a.client_id != client.id for a in assignments):
            raise HandoutError(f"an assignment given does not belong to {client.code}")
    else:
        assignments = current_assignments(store, client.id, as_of)
    if not assignments:
        raise HandoutError(f"{client.code} has no current assignment to print")
    pregnancy = client.pregnancy(as_of)
    pregnant = pregnancy is not None and pregnancy.pregnant
    return Handout(
        client.code, client.display_name, client.therapist, as_of,
        pregnancy.label() if pregnant else None,
        tuple(_program(store, a, as_of) for a in assignments),
        pregnancy_stop_signs() if pregnant else (), checkin_url)


# -- layout --------------------------------------------------------------------------------------

_PLAIN = str.maketrans({"–": "-", "—": "-", "×": "x", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...",
                        "≥": ">=", "≤": "<="})


class _HandoutPdf(FPDF):
    """A4 pages with a footer; remembers every text it wrote (tests read it, PDF text is encoded)."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.footer_text = footer_text
        self.written: list[str] = []
        regular = _font_file("DejaVuSans.ttf")
        bold = _font_file("DejaVuSans-Bold.ttf")
        if regular and bold:
            self.add_font("body", "", str(regular))
            self.add_font("body", "B", str(bold))
            self.family_name, self.unicode = "body", True
        else:
            self.family_name, self.unicode = "helvetica", False
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=16)

    def clean(self, text: str) -> str:
        return text if self.unicode else text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")

    def fit(self, text: str, width: float) -> str:
        """Shorten ``text`` with an ellipsis until it fits ``width`` mm in the current font."""
        if self.get_string_width(text) <= width:
            return text
        ellipsis = "…" if self.unicode else "..."
        while text and self.get_string_width(text + ellipsis) > width:
            text = text[:-1]
        return text.rstrip() + ellipsis

    def style(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)

    def para(self, text: str, size: float = 10, bold: bool = False, gap: float = 1.0, indent: float = 0) -> None:
        self.written.append(text)
        self.style(size, bold)
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, size * 0.5, self.clean(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(gap)

    def box_cell(self, w: float, h: float, text: str, boxes: int = 0, shade: bool = False, bold: bool = False) -> None:
        """One grid cell with a label or ``boxes`` small tick boxes, left to right."""
        x, y = self.get_x(), self.get_y()
        if shade:
            self.set_fill_color(225, 225, 225)
            self.rect(x, y, w, h, style="DF")
        else:
            self.rect(x, y, w, h)
        if text:
            self.written.append(text)
            self.style(7.5, bold)
            self.set_xy(x + 1, y)
            self.cell(w - 2, h, self.fit(self.clean(text), w - 2), align="L" if boxes == 0 and w > 30 else "C")
        side, gap = 3.2, 1.6
        total = boxes * side + (boxes - 1) * gap
        for n in range(boxes):
            self.rect(x + (w - total) / 2 + n * (side + gap), y + (h - side) / 2, side, side)
        self.set_xy(x + w, y)

    def footer(self) -> None:
        self.set_y(-11)
        self.style(7.5)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, self.clean(f"{self.footer_text} · page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0, 0, 0)


def _font_file(name: str) -> Path | None:
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    return None


def _fmt(day: date) -> str:
    return f"{day.day} {day.strftime('%b')} {day.year}"


CHECKIN_QR_MM = 30.0


def checkin_qr_png(url: str) -> bytes:
    """The check-in link as a QR code (PNG), with the quiet zone a phone camera needs."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def _checkin_box(pdf: _HandoutPdf, url: str) -> None:
    """The QR code with the written link beside it, for clients who log sessions on their phone."""
    if pdf.get_y() > pdf.page_break_trigger - CHECKIN_QR_MM - 5:
        pdf.add_page()
    top = pdf.get_y()
    pdf.image(io.BytesIO(checkin_qr_png(url)), x=pdf.l_margin, y=top, w=CHECKIN_QR_MM, h=CHECKIN_QR_MM)
    indent = CHECKIN_QR_MM + 4
    pdf.set_y(top + 3)
    pdf.para("Log your sessions on your phone", size=11, bold=True, gap=0.5, indent=indent)
    pdf.para("Scan the code with your phone's camera, or type the link below. It shows today's exercises"
             " with a timer for each hold; tick what you did and note your pain. Keep it to yourself: it is"
             " your personal link.", size=9, gap=0.5, indent=indent)
    pdf.para(url, size=8, gap=0, indent=indent)
    pdf.set_y(max(pdf.get_y(), top + CHECKIN_QR_MM) + 3)


# What every program page tells the client first, in place of the routine's description (written for staff).
CLIENT_INTRO = ("This is your exercise program. Do the exercises in the order shown, at the dose given for each,"
                " moving slowly and breathing normally. Read the notes marked \"Take care\" first, and see \"When to"
                " stop\" at the end. Tick each exercise on the log sheet when you have done it.")


def _day_header(pdf: _HandoutPdf, day: date, width: float) -> str:
    """A log-sheet column heading that fits its cell whole: "Mon 23/3", or "Mon 23" where the
    date would be cut (the week's line above gives the month)."""
    full = f"{WEEKDAY_NAMES[day.weekday()]} {day.day}/{day.month}"
    pdf.style(7.5, True)
    return full if pdf.get_string_width(pdf.clean(full)) <= width - 2 else f"{WEEKDAY_NAMES[day.weekday()]} {day.day}"


def _program_pages(pdf: _HandoutPdf, handout: Handout, program: HandoutProgram) -> None:
    pdf.add_page()
    pdf.para(program.routine_name, size=15, bold=True, gap=1)
    pdf.para(f"For {handout.client_name} ({handout.client_code})"
             + (f" · therapist: {handout.therapist}" if handout.therapist else ""), size=10)
    pdf.para(f"From {_fmt(program.start_date)} to {_fmt(program.last_day)} · {program.schedule_text}"
             f" · about {program.est_minutes:g} minutes for the whole routine", size=10, gap=2)
    if program.minutes_by_slot:
        pdf.para("Parts of the day: " + "; ".join(
            f"{slot.replace('_', ' ')} about {minutes:g} min" for slot, minutes in program.minutes_by_slot.items()),
            size=9.5)
    if handout.checkin_url:
        _checkin_box(pdf, handout.checkin_url)
    if handout.pregnancy:
        pdf.para(f"On {_fmt(handout.as_of)}: {handout.pregnancy}.", size=9.5)
    pdf.para(CLIENT_INTRO, size=9.5, gap=2)  # the routine's description is written for staff
    for note in program.program_notes:
        pdf.para(f"Important: {note}", size=10, bold=True, gap=2)
    for n, ex in enumerate(program.exercises, 1):
        if pdf.get_y() > pdf.page_break_trigger - 40:
            pdf.add_page()
        slot = f" ({ex.slot.replace('_', ' ')})" if ex.slot else ""
        pdf.para(f"{n}. {ex.name}{slot}", size=11.5, bold=True, gap=0.5)
        pdf.para(f"Dose: {ex.dose_text}", size=10, gap=0.5)
        for i, step in enumerate(ex.steps, 1):
            pdf.para(f"{i}. {step}", size=9, gap=0, indent=4)
        if ex.cue:
            pdf.para(f"Tip: {ex.cue}", size=9, gap=0, indent=4)
        if ex.note:
            pdf.para(f"Note: {ex.note}", size=9, gap=0, indent=4)
        for note in ex.care_notes:
            pdf.para(f"Take care: {note}", size=9.5, bold=True, gap=0, indent=4)
        pdf.ln(2.5)
    if pdf.get_y() > pdf.page_break_trigger - 45:
        pdf.add_page()
    pdf.para("When to stop", size=11.5, bold=True, gap=0.5)
    pdf.para(PAIN_ADVICE, size=9.5, gap=1)
    if handout.stop_signs:
        pdf.para("Stop exercising and contact your midwife or doctor if you notice: "
                 + "; ".join(handout.stop_signs) + ".", size=9.5, bold=True, gap=1)
    _log_sheet(pdf, handout, program)


def _log_sheet(pdf: _HandoutPdf, handout: Handout, program: HandoutProgram) -> None:
    """One grid per program week: a row per exercise, a tick box per session of the day, then pain."""
    pdf.add_page()
    pdf.para(f"Log sheet: {program.routine_name}", size=13, bold=True, gap=0.5)
    pdf.para(f"{handout.client_name} ({handout.client_code}). Tick each exercise when you have done it"
             " and write down your pain (0 = none, 10 = worst) before and after the session. Bring this"
             " sheet to your next appointment.", size=9, gap=2)
    name_w, row_h = 58.0, 7.0
    day_w = (pdf.epw - name_w) / 7
    rows = len(program.exercises) + 2
    boxes = program.times_per_day
    for week in program.weeks:
        if pdf.get_y() + (rows + 2) * row_h > pdf.page_break_trigger:
            pdf.add_page()
        pdf.para(f"Week {week.number}: {_fmt(week.days[0])} to {_fmt(min(week.days[-1], week.last_day))}",
                 size=10, bold=True, gap=0.5)
        pdf.box_cell(name_w, row_h, "Exercise", bold=True)
        for day in week.days:
            pdf.box_cell(day_w, row_h, _day_header(pdf, day, day_w), shade=day > week.last_day, bold=True)
        pdf.ln(row_h)
        labels = [ex.name for ex in program.exercises] + ["Pain before (0–10)", "Pain after (0–10)"]
        for r, label in enumerate(labels):
            pdf.box_cell(name_w, row_h, label)
            for day in week.days:
                outside = day > week.last_day
                pdf.box_cell(day_w, row_h, "", boxes=0 if outside or r >= len(program.exercises) else boxes,
                             shade=outside)
            pdf.ln(row_h)
        pdf.ln(3)


@dataclass(frozen=True)
class RenderedHandout:
    pdf: bytes
    pages: int
    texts: tuple[str, ...]      # every text written on it, in order (PDF text is font-encoded)


def render_pdf(handout: Handout) -> RenderedHandout:
    """Lay the handout out as an A4 PDF."""
    pdf = _HandoutPdf(f"{handout.client_code} · printed {handout.as_of.isoformat()} · Routine Desk")
    pdf.set_title(f"Exercise program for {handout.client_code}")
    pdf.set_author("Routine Desk")
    for program in handout.programs:
        _program_pages(pdf, handout, program)
    return RenderedHandout(bytes(pdf.output()), pdf.page_no(), tuple(pdf.written))


def client_handout_pdf(store: Store, client_ref: str | int, as_of: date,
                       assignment_ids: list[int] | None = None, checkin_url: str | None = None,
                       sites: tuple[str, ...] | None = None) -> bytes:
    """The PDF for a client's current programs; HandoutError when there is nothing to print (or
    the client is not in ``sites``)."""
    return render_pdf(handout_data(store, client_ref, as_of, assignment_ids, checkin_url, sites)).pdf


def handout_file_name(client_code: str, as_of: date) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in client_code)
    return f"handout-{safe}-{as_of.isoformat()}.pdf"
