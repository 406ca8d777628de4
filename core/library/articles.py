"""Read draft exercises and routines out of an article, blog post or handout.

Typing exercises in by hand is what keeps studio libraries small, so staff paste or upload an
article and get drafts with steps and dose filled in, to review before anything is saved. The
reader is rule-based and deterministic (no network, no language model):

1. ``article_text`` turns an upload into text; HTML is reduced with BeautifulSoup (scripts and
   styles dropped) to Markdown-like lines, so headings and lists keep their shape.
2. Lines are sorted into headings (Markdown ``#``, bold lines, short title-like lines, numbered
   titles such as "2. Bridge Pose") and body lines (numbered or bulleted items, including emoji
   bullets, and plain sentences). Labels such as "How to do it", "Steps:" or "Common mistakes"
   continue the exercise above them instead of starting a new section.
3. Each section is then either skipped (introductions, tips, FAQs, safety notes, author bios,
   benefits, conclusions, background; "See also" lines), read as a routine (a heading that says
   routine/sequence/program with two or more items), or read as exercises: the section itself
   when its heading names a movement and its body gives instructions, or "Name: instructions"
   items/paragraphs inside it.
4. Dose comes from ``core.library.article_dose``; position, kind and targets are guessed from words and
   left empty when the words do not say; ``core.library.article_match`` offers the library entry to merge.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from core.library.article_dose import DoseDraft, is_dose_only, read_dose
from core.library.article_match import LibraryMatch, as_library_entries, best_match, match_library, name_tokens

# -- drafts --------------------------------------------------------------------------------------


@dataclass
class ExerciseDraft:
    """One exercise as read from the article, for staff to edit, accept, merge or discard."""

    name: str
    steps: list[str]
    dose: DoseDraft = field(default_factory=DoseDraft)
    position: str | None = None
    kind: str | None = None
    targets: list[str] = field(default_factory=list)
    match: LibraryMatch | None = None
    aliases: list[str] = field(default_factory=list)
    heading: str = ""
    cues: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)  # "Stop if ...", "Skip this if ...", "Not after ..."

    def names(self) -> list[str]:
        """Every name the article uses for this exercise, for matching."""
        return [n for n in dict.fromkeys([self.name, *self.aliases, self.heading]) if n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": list(self.steps),
            "dose": self.dose.to_dict(),
            "position": self.position,
            "kind": self.kind,
            "match": self.match.to_dict() if self.match else None,
            "targets": list(self.targets),
            "aliases": list(self.aliases),
            "heading": self.heading,
            "cues": list(self.cues),
            "mistakes": list(self.mistakes),
            "notes": list(self.notes),
            "cautions": list(self.cautions),
        }


@dataclass
class RoutineItemDraft:
    """One line of a routine: which exercise, how much, and when in the day if the text says."""

    name: str
    dose: DoseDraft = field(default_factory=DoseDraft)
    match: LibraryMatch | None = None
    exercise_index: int | None = None  # index into ArticleDrafts.exercises when it is one of them
    slot: str | None = None
    note: str | None = None
    aliases: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dose": self.dose.to_dict(),
            "match": self.match.to_dict() if self.match else None,
            "exercise_index": self.exercise_index,
            "slot": self.slot,
            "note": self.note,
        }


@dataclass
class RoutineDraft:
    name: str
    items: list[RoutineItemDraft]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True)
class SkippedSection:
    """A part of the article that was not read as an exercise, and why (shown to staff)."""

    heading: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"heading": self.heading, "reason": self.reason}


@dataclass
class ArticleDrafts:
    exercises: list[ExerciseDraft] = field(default_factory=list)
    routines: list[RoutineDraft] = field(default_factory=list)
    skipped: list[SkippedSection] = field(default_factory=list)
    title: str | None = None  # the article's first heading, offered as the source title

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercises": [e.to_dict() for e in self.exercises],
            "routines": [r.to_dict() for r in self.routines],
            "skipped": [s.to_dict() for s in self.skipped],
            "title": self.title,
        }

    def to_json(self) -> str:
        """The CLI's JSON contract (fields may be added, never renamed)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


# -- input: bytes, HTML ----------------------------------------------------------------------------

_HTML_HINT = re.compile(
    r"<(?:html|body|p|div|h[1-6]|ul|ol|li|article|section|br|span|strong|script|style)\b[^>]*>", re.I)
_DROP_TAGS = ["script", "style", "noscript", "template", "svg", "iframe", "nav", "footer", "aside",
              "form", "button", "head"]
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "blockquote", "figure", "figcaption",
               "pre", "dl", "dt", "dd", "body", "html", "center", "details", "summary"}


def looks_like_html(text: str) -> bool:
    return len(_HTML_HINT.findall(text[:20000])) >= 2


def decode_upload(data: bytes) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), else Windows-1252, never an error."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def article_text(data: bytes | str, filename: str | None = None) -> str:
    """The text to read from an upload or a paste: .html/.htm reduced to text, .txt/.md as is;
    without a telling file name, HTML is recognised by its tags."""
    text = decode_upload(data) if isinstance(data, bytes) else data
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix in (".html", ".htm") or (suffix not in (".txt", ".md", ".markdown") and looks_like_html(text)):
        return html_to_text(text)
    return text


def html_to_text(html: str) -> str:
    """HTML reduced to Markdown-like lines: headings as ``#``, list items as ``-``/``1.``, a
    paragraph that is all bold as ``**bold**``; scripts, styles and navigation dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    lines: list[str] = []
    _emit_block(soup, lines)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _node_text(node: Any) -> str:
    from bs4.element import NavigableString, PreformattedString

    if isinstance(node, PreformattedString):  # comments, doctype, CDATA, processing instructions
        return ""
    if isinstance(node, NavigableString):
        return str(node)
    return node.get_text(" ")


def _bold_lead(node: Any) -> str | None:
    """The text of a bold lead-in ("<strong>Leg swings.</strong> Hold a fence ...") when the
    node starts with one and goes on after it; None otherwise."""
    from bs4 import Tag

    for child in node.children:
        if isinstance(child, Tag) and child.name in ("strong", "b"):
            lead = _squash(child.get_text(" "))
            return lead if lead and lead != _squash(node.get_text(" ")) else None
        if _squash(_node_text(child)):
            return None
    return None


def _with_bold_lead(node: Any, text: str) -> str:
    lead = _bold_lead(node)
    if lead and text.startswith(lead):
        return f"**{lead}** {text[len(lead):].strip()}"
    return text


def _name_paragraph(node: Any) -> bool:
    text = _squash(node.get_text(" "))
    return (0 < len(text.split()) <= 8 and text[-1] not in ".!?,;:" and not is_dose_only(text)
            and not is_instruction(text) and not is_caution(text))


def _bold_only(node: Any) -> bool:
    strong = node.find(["strong", "b"])
    return strong is not None and _squash(strong.get_text(" ")) == _squash(node.get_text(" ")) != ""


def _emit_block(node: Any, lines: list[str]) -> None:
    from bs4 import Tag

    buffer: list[str] = []

    def flush() -> None:
        text = _squash(" ".join(buffer))
        buffer.clear()
        if text:
            lines.append(text)

    for child in node.children:
        name = child.name if isinstance(child, Tag) else None
        if name is None:
            buffer.append(_node_text(child))
        elif name == "br":
            flush()
        elif re.fullmatch(r"h[1-6]", name):
            flush()
            lines.extend(["", "#" * int(name[1]) + " " + _squash(child.get_text(" ")), ""])
        elif name in ("ul", "ol"):
            flush()
            _emit_list(child, lines, 0)
            lines.append("")
        elif name == "table":
            flush()
            for row in child.find_all("tr"):
                cells = [_squash(c.get_text(" ")) for c in row.find_all(["td", "th"])]
                lines.append(" | ".join(c for c in cells if c))
            lines.append("")
        elif name in _BLOCK_TAGS:
            flush()
            if name == "p" and _bold_only(child):
                lines.extend(["", f"**{_squash(child.get_text(' '))}**"])
            elif name == "p" and _bold_lead(child):
                lines.append(_with_bold_lead(child, _squash(child.get_text(" "))))
            else:
                _emit_block(child, lines)
            if not (name == "p" and _name_paragraph(child)):
                lines.append("")  # a short name paragraph stays next to the instructions under it
        else:
            buffer.append(child.get_text(" "))
    flush()


def _emit_list(node: Any, lines: list[str], depth: int) -> None:
    from bs4 import Tag

    ordered = node.name == "ol"
    try:
        number = int(node.get("start", 1))
    except (TypeError, ValueError):
        number = 1
    for li in node.find_all("li", recursive=False):
        nested = [c for c in li.children if isinstance(c, Tag) and c.name in ("ul", "ol")]
        text = _squash(" ".join(_node_text(c) for c in li.children if not any(c is n for n in nested)))
        if text:
            lead = li.find(["strong", "b"])
            if (_bold_only(li) and not nested) or (nested and lead is not None and _squash(lead.get_text(" ")) == text):
                text = f"**{text}**"  # a bold item over its own list is a heading for that list
            else:
                text = _with_bold_lead(li, text)
            lines.append("  " * depth + (f"{number}. " if ordered else "- ") + text)
        number += 1
        for sub in nested:
            _emit_list(sub, lines, depth + 1)


# -- tables -------------------------------------------------------------------------------------

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _table_cells(line: str) -> list[str] | None:
    """The cells of a Markdown table row ("| a | b |") or of an HTML row as reduced ("a | b")."""
    if line.count("|") < 1 or "|" not in line.strip().strip("|") and not line.strip().startswith("|"):
        return None
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return cells if len(cells) >= 2 and all(cells) else None


def table_rows_as_blocks(text: str) -> str:
    """Table rows that name an exercise in their first cell and instruct in another are written
    out as blocks (name line, one line per cell, blank line), so they read like any other block."""
    out: list[str] = []
    for line in text.split("\n"):
        if _TABLE_RULE.match(line) and "-" in line:
            continue
        cells = _table_cells(line)
        if cells and _title_like(cells[0], 8) and not is_instruction(cells[0]) and any(
                is_instruction(c) and len(c.split()) >= 3 for c in cells[1:]):
            out.extend(["", cells[0], *(c if c[-1] in ".!?" else c + "." for c in cells[1:]), ""])
        else:
            out.append(line)
    return "\n".join(out)


# -- words ---------------------------------------------------------------------------------------

_VERBS = set("""
begin start lie kneel sit stand step place put bring keep hold shift lower lift raise press push pull
reach extend bend straighten tuck engage inhale exhale breathe relax release return repeat switch swap
change alternate move rock roll rotate turn twist draw hug squeeze slide drop let allow take find set
maintain continue walk sink lean lengthen open round arch rest aim do perform try make avoid imagine
feel focus get go cross clasp interlace grab hook loop wrap point flex tilt hinge drive tap curl sweep
float circle scoot position align stack use work count stay stop support rise come brace activate
pause gaze look fold hover march kick pulse spread glide plant anchor squat stretch complete
""".split()) - {"stretch", "squat"}  # "Stretch"/"Squat" start headings more often than steps
_ADVERBS = {"slowly", "gently", "carefully", "then", "now", "next", "finally", "first", "again", "slightly",
            "lightly", "softly", "simply", "just", "and", "still", "always", "also", "once", "firmly"}
_PARTICIPLES = {"lying", "kneeling", "standing", "sitting", "starting", "keeping", "holding", "facing"}
_SETUP_WORDS = {"from", "with", "on", "in", "while", "using", "keeping", "once", "if", "for", "as",
                "without", "at"}
_PREPOSITIONS = {"on", "in", "with", "at", "tall", "upright", "up", "down", "back", "against", "near",
                 "beside", "facing", "sideways", "flat", "comfortably", "by", "behind", "next"}

_EXERCISE_NOUN = re.compile(
    r"\b(?:stretch(?:es)?|poses?|lunges?|bridges?|release|lowering|raises?|lifts?|twists?|drops?|"
    r"clamshells?|clams?|squats?|planks?|march(?:es|ing)?|tilts?|rock(?:s|ing)?|circles?|rolls?|"
    r"bird[- ]dogs?|dead[- ]bugs?|cat[- ]cows?|hinges?|extensions?|kicks?|reach(?:es)?|thrusts?|"
    r"crunch(?:es)?|curls?|slides?|swings?|rotations?|openers?|exercises?|activation|hugs?|"
    r"figure[- ]fours?|figure[- ]4|pigeon|butterfly|cobra|sphinx|superman|windshield wipers?|bicycles?|"
    r"sit[- ]ups?|step[- ]ups?|deadlifts?|presses|salutations?|knee[- ]to[- ]chest|mobili[sz]ations?|"
    r"breathing|fold|bends?|walk[- ]?outs?|wipers?|holds?)\b", re.I)
_SINGLE_WORD_EXERCISES = re.compile(
    r"^(?:pigeon|butterfly|cobra|sphinx|superman|plank|bridge|clamshells?|squats?|lunges?|cat[- ]cow)$", re.I)

_SKIP_RULES: list[tuple[str, re.Pattern[str]]] = [(reason, re.compile(rx, re.I)) for reason, rx in [
    ("see also", r"^(?:see also|related(?: posts?| articles?| reading)?|read more|read next|you may also like|"
                 r"also read)\b"),
    ("faq", r"\bfaqs?\b|frequently asked|\bquestions\b"),
    ("author bio", r"\babout (?:the )?authors?\b|\bwritten by\b|\bauthor\b|\bbio\b|\bmeet (?:the|your)\b|"
                   r"\babout (?:me|us)\b"),
    ("safety", r"\bsafety\b|\bsafely\b|\bprecautions?\b|\bwarnings?\b|contraindicat|\bwhen to (?:see|stop|"
               r"avoid|seek)\b|\bdisclaimer\b|\bcautions?\b|\bwho should\b|\bto avoid\b|\bred flags?\b"),
    ("tips", r"\btips?\b|\bbest practices?\b|\bmistakes?\b|\bdos and don|\bdo'?s\b|\bhints?\b|\badvice\b|"
             r"\bhow to get (?:more|the most)\b"),
    ("benefits", r"\bbenefits?\b|\bwhy (?:stretch|it works|this works)\b"),
    ("conclusion", r"\bconclusions?\b|\bfinal thoughts\b|\bbottom line\b|\btakeaways?\b|\bsummary\b|"
                   r"\bwrap(?:ping)?[- ]up\b|\bin short\b|\bkey points\b|\bnext steps\b"),
    ("question", r"\?\s*$"),
    ("background", r"^(?:why|what|how does|how do|how long|how often|when|who|understanding|the importance|"
                   r"importance|anatomy|the role|role of|the impact|impact|the science|science|the problem|"
                   r"signs?|symptoms?|causes?|info\b|leave a (?:comment|reply)|comments?$|share\b)|\bsigns\b|"
                   r"\bsymptoms\b|\bcauses\b|\bcomplementary\b|\bstrateg(?:y|ies)\b|\blifestyle\b|\bresults\b"),
]]
_ROUTINE_HEADING = re.compile(
    r"\broutines?\b|\bsequences?\b|\bprogram(?:me)?s?\b|\bplan\b|\bcircuits?\b|\bworkouts?\b|\bschedule\b|"
    r"\bsessions?\b", re.I)
_CONTINUATIONS: list[tuple[str, re.Pattern[str]]] = [(bucket, re.compile(rf"^(?:{rx})$", re.I)) for bucket, rx in [
    ("steps", r"how to(?: do it| perform it| do this| do the (?:stretch|exercise)| do)?|steps?|instructions?|"
              r"directions?|technique|method|set ?up|starting position|start position|execution|dose|dosage|"
              r"reps and sets|sets and reps|prescription|how (?:long|many)(?: to hold)?"),
    ("cues", r"cues?|key cues|coaching cues|form cues|form tips|form pointers"),
    ("mistakes", r"(?:common )?mistakes(?: to avoid)?|avoid|watch out for|what to avoid"),
    ("notes", r"benefits?|why it works|why it helps|targets?|muscles? (?:worked|targeted)|what it (?:does|targets)|"
              r"notes?|variations?|modifications?|progressions?|regressions?|to (?:intensify|deepen|progress|"
              r"modify|regress|make it (?:easier|harder))|make it (?:easier|harder)|easier|harder|"
              r"safety notes?|cautions?|precautions?"),
]]
_INLINE_LABEL = re.compile(
    r"^(?P<label>steps|how to|instructions|dose|dosage|benefits?|why it works|why it helps|targets?|"
    r"muscles? worked|notes?|tips?|pro tip|to (?:intensify|deepen|progress|modify|make it (?:easier|harder))|"
    r"make it (?:easier|harder)|variations?|modifications?|progressions?|regressions?|common mistakes?|"
    r"mistakes?|avoid|cues?|cautions?|safety|disclaimer|warning|precautions?|starting position|start position|"
    r"position|set ?up|action|movement|what to do|how much|amount|finish|end position|reps|repetitions|sets|hold|"
    r"time|duration|rounds|breaths|frequency|how often)\s*:\s*(?P<rest>\S.*)$", re.I)
_LABEL_BUCKET = {"steps": "steps", "how to": "steps", "instructions": "steps", "dose": "dose",
                 "dosage": "dose", "tip": "cues", "tips": "cues", "pro tip": "cues", "cue": "cues",
                 "cues": "cues", "target": "targets", "targets": "targets", "muscles worked": "targets",
                 "muscle worked": "targets", "common mistake": "mistakes", "common mistakes": "mistakes",
                 "mistake": "mistakes", "mistakes": "mistakes", "avoid": "mistakes", "caution": "cautions",
                 "cautions": "cautions", "safety": "cautions", "warning": "cautions", "precaution": "cautions",
                 "precautions": "cautions", "starting position": "steps", "start position": "steps",
                 "position": "steps", "setup": "steps", "set up": "steps", "action": "steps", "movement": "steps",
                 "what to do": "steps", "how much": "dose", "amount": "dose", "finish": "steps",
                 "reps": "dose", "repetitions": "dose", "sets": "dose", "hold": "dose", "time": "dose",
                 "duration": "dose", "rounds": "dose", "breaths": "dose",
                 "end position": "steps"}
# Sentences that say when not to do an exercise, or when to stop: cautions, never steps.
_CAUTION = re.compile(
    r"^(?:avoid|skip (?:this|it|the)|stop (?:if|when|and|any|the|at once|immediately)|not (?:after|before|during|if|"
    r"for|until|while|with|in)\b|never\b|do not\b.*\bif\b|don'?t\b.*\bif\b|leave (?:this|it) out|caution\b|"
    r"warning\b|check with your|ask your (?:doctor|gp|midwife|physio\w*)|if (?:you|it|this|the)\b[^,]*\b(?:hurts?|"
    r"pain\w*|dizzy|numb\w*|tingl\w*|swell\w*)\b[^,]*,\s*(?:stop|skip|avoid|leave)\b)|\bstop if\b|"
    r"\bskip (?:this|it) if\b", re.I)
_BIO = re.compile(r"\b(?:years? of experience|for over \d+ years|has been (?:a|an|the)|is a (?:certified|"
                  r"licensed|registered|board)|m\.d\.|phd|dpt|specialist|founder of|holds? a degree|"
                  r"graduated)\b", re.I)
_SLOTS = [("morning", r"\bmorning\b|\bwake[- ]up\b"), ("midday", r"\bmidday\b|\blunch\w*\b|\bnoon\b|\bafternoon\b"),
          ("evening", r"\bevening\b|\bnight\b|\bbedtime\b|\bbefore (?:bed|sleep)\b|\bwind[- ]down\b"),
          ("before_run", r"\bbefore (?:a |your |the )?run\w*\b|\bpre[- ]run\b"),
          ("after_run", r"\bafter (?:a |your |the )?run\w*\b|\bpost[- ]run\b")]
_POSITIONS: list[tuple[str, re.Pattern[str]]] = [(name, re.compile(rx, re.I)) for name, rx in [
    ("half_kneeling", r"half[- ]kneel\w*|\b(?:one|right|left|back) knee (?:down|on the (?:floor|ground|mat))|"
                      r"\bkneel\w* on (?:your |the )?(?:one|right|left|back) knee"),
    ("all_fours", r"all fours|hands and knees|table ?top|quadruped|knees and (?:forearms|elbows)|"
                  r"forearms and knees"),
    ("side_lying", r"side[- ]lying|\b(?:lie|lying) on your side"),
    ("prone", r"\bprone\b|\b(?:lie|lying) (?:face down|on your (?:stomach|belly|front))"),
    ("supine", r"\bsupine\b|\b(?:lie|lying|lay)\b[^.]{0,20}\bon (?:your|the) back\b|\bon your back\b|"
               r"\b(?:lie|lying) back\b"),
    ("kneeling", r"\bkneel(?:ing)?\b|\bon your knees\b"),
    ("lunge", r"\blunge\b"),
    ("seated", r"\bsit\b|\bsitting\b|\bseated\b|\bon a chair\b"),
    ("standing", r"\bstand\b|\bstanding\b"),
]]
_TARGETS: list[tuple[str, re.Pattern[str]]] = [(name, re.compile(rx, re.I)) for name, rx in [
    ("psoas", r"psoas"), ("iliacus", r"iliacus"),
    ("hip_flexors", r"hip[- ]flexors?|front of (?:the|your) (?:right |left )?hip"),
    ("quadriceps", r"\bquad(?:riceps|s)?\b|front of (?:the|your) (?:right |left )?thigh"),
    ("glutes", r"\bglute"), ("hamstrings", r"hamstring"),
    ("adductors", r"adductor|inner thigh"), ("hip_rotators", r"piriformis|hip rotator|outer hip"),
    ("core", r"\bcore\b|\babdominals?\b|\babs\b"), ("obliques", r"oblique|side body"),
    ("lower_back", r"lower back|lumbar"), ("spine", r"\bspine\b|\bspinal\b"),
    ("thoracic_spine", r"thoracic|upper back"), ("hip_joint", r"hip joint"),
]]
# Mentions that are about holding a position, not what is worked: "engage your core", "keep your
# lower back flat". Removed before targets are read.
_NOT_TARGET = re.compile(
    r"(?:engag|brac|tighten|activat)\w* (?:your |the )?core|core (?:lightly |slightly )?engaged|"
    r"\b(?:squeez|clench|tighten)\w* (?:your |the )?(?:glutes|buttocks|bottom)\b|"
    r"\b(?:arch\w*|press\w*|flat|overextend\w*|protect\w*|collaps\w*|strain\w*)\b[^.]{0,25}lower back|"
    r"lower back[^.]{0,25}\b(?:arch\w*|press\w*|flat|overextend\w*|supported|neutral)\b|"
    r"\b(?:without|avoid\w*|prevents?|protect\w*)\s+(?:\w+\s+){0,3}(?:spine|lower back|back)\b", re.I)
# Exercises whose targets are textbook knowledge, checked against the name only (first match wins).
_KNOWN_TARGETS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [(re.compile(rx, re.I), targets) for rx, targets in [
    (r"\bcouch stretch\b", ("hip_flexors", "quadriceps")),
    (r"\b(?:forward fold|toe touch|hip hinge|inchworm|good mornings?)\b", ("hamstrings",)),
    (r"\b(?:knee extension|quad sets?|straight leg raises?)\b", ("quadriceps",)),
    (r"\b(?:butterfly|frog)\b", ("adductors",)),
    (r"\b(?:figure[- ](?:four|4)|pigeon)\b", ("glutes", "hip_rotators")),
    (r"\bclam ?shells?\b", ("glutes", "hip_rotators")),
    (r"\bside bends?\b", ("obliques",)),
]]
_TARGET_SENTENCE = re.compile(r"\b(?:feel|stretch\w*|target\w*|strengthen\w*|lengthen\w*|works?|open\w*|"
                              r"release\w*|mobili\w*|loosen\w*)\b", re.I)


def _words(text: str, n: int = 6) -> list[str]:
    return re.findall(r"[a-z][a-z'’-]*", text.lower())[:n]


def is_instruction(text: str) -> bool:
    """True when a sentence tells the reader what to do ("Lie on your back", "Gently press ...")."""
    words = _words(text)
    i = 0
    while i < len(words) and words[i] in _ADVERBS:
        i += 1
    if i >= len(words) or "-" in words[i]:
        return False
    word = words[i]
    if word in _VERBS:
        return True
    if word in _PARTICIPLES and i + 1 < len(words) and words[i + 1] in _PREPOSITIONS:
        return True
    if i == 0 and word in _SETUP_WORDS and "," in text[:80]:
        # "From a chair, arms crossed, stand up": the instruction may follow more than one clause
        parts = text.split(",")
        return is_instruction(parts[1]) or (len(parts) > 2 and _set_up_detail(parts[1])
                                            and is_instruction(",".join(parts[2:])))
    return False


def _set_up_detail(text: str) -> bool:
    """ "arms crossed", "knees bent", "feet flat": a detail of the set-up between commas."""
    words = _words(text)
    return (0 < len(words) <= 3 and not set(words) & (_VERBS | {"or", "and"})
            and (words[-1].endswith("ed") or words[-1] in {"flat", "straight", "tall", "together", "apart", "wide"}))


def is_caution(text: str) -> bool:
    """True for a sentence that says when not to do an exercise or when to stop ("Avoid this if
    ...", "Stop if ...", "Skip this if ...", "Not after 36 weeks")."""
    return bool(_CAUTION.search(text.strip()))


_STAYING = {"hold", "stay", "remain", "rest", "relax", "breathe", "sink", "pause", "keep"}


def is_dose_sentence(text: str) -> bool:
    """A sentence that only prescribes ("Do 8 reps per side.", "2 x 30 seconds"): it is the
    dose, not a step. "Hold for 30 seconds, then switch sides." stays a step: holding is done."""
    dose = read_dose(text)
    if not is_dose_only(text) or not (dose.has_amount() or dose.sets or dose.duration_s):
        return False  # "Switch sides and repeat." instructs
    words = [w for w in _words(text, 3) if w not in _ADVERBS]
    return not (words and words[0] in _STAYING)


def _unlabelled(text: str) -> str:
    """A line without its label ("Starting position: lie on your back" -> "lie on your back")."""
    label = _INLINE_LABEL.match(text)
    return label["rest"] if label else text


def _title_case(text: str) -> bool:
    """"Lower Back Pain": a heading even though it starts with a verb."""
    words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", text) if len(w) > 3]
    return len(words) >= 2 and all(w[0].isupper() for w in words)


def _title_like(text: str, max_words: int = 12) -> bool:
    text = text.strip()
    return (0 < len(text) <= 100 and text[-1] not in ".,;!" and len(text.split()) <= max_words
            and re.search(r"[A-Za-z]", text) is not None)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\"“'‘])", text.strip())
    return [p.strip() for p in parts if p.strip()]


def _continuation_bucket(heading: str) -> str | None:
    text = re.sub(r"^\d+[.)]\s*", "", heading.strip()).rstrip(": ").strip()
    for bucket, pattern in _CONTINUATIONS:
        if pattern.match(text):
            return bucket
    return None


def _skip_reason(heading: str) -> str | None:
    text = heading.strip()
    for reason, pattern in _SKIP_RULES:
        if pattern.search(text):
            return reason
    return None


# -- lines and sections --------------------------------------------------------------------------

@dataclass
class _Line:
    text: str
    indent: int = 0
    marker: str = ""   # "num" | "bullet" | "" for plain text
    bucket: str = "steps"
    lead: str = ""     # a bold lead-in ("**Couch stretch.** Kneel ...") without its punctuation
    lead_rest: str = ""  # what follows the lead-in


@dataclass
class _Token:
    kind: str          # blank | md | bold | item | text | seealso
    text: str = ""
    indent: int = 0
    marker: str = ""
    level: int = 0
    lead: str = ""
    lead_rest: str = ""


@dataclass
class _Section:
    heading: str
    level: int
    style: str         # md | bold | plain | num | label | none
    lines: list[_Line] = field(default_factory=list)
    parent: _Section | None = None
    children: list[_Section] = field(default_factory=list)
    bucket: str = "steps"
    skip: str | None = None
    routine: bool = False


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d{1,2})\s*[.)]\s+(.*)$")
_STEP_NUMBERED = re.compile(r"^step\s*(\d{1,2})\s*[.):\-–—]\s*(.*)$", re.I)
_KEYCAP = re.compile(r"^(\d)\ufe0f?\u20e3\s*(.*)$")
_BULLET = re.compile(r"^(?:[-*+•·●▪◦‣○■□➤►▶→✓✔☐☑]|[\u2013\u2014])\s+(.*)$")
_BOLD_LEAD = re.compile(r"^(\*\*|__)(.+?)\1\s*(?:[:.]\s*|[-–—]\s+)?(\S.*)$")
_BOLD_LINE = re.compile(r"^(\*\*|__)(.+?)\1\s*:?\s*$")
_SEE_ALSO = re.compile(r"^(?:see also|related|read more|read next|you may also like|also read)\b\s*:?\s*\S", re.I)


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (unicodedata.category(char) == "So" or 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF)


def _strip_emoji_bullet(text: str) -> str | None:
    """The text after a leading emoji used as a bullet, or None when there is none."""
    i = 0
    while i < len(text) and (_is_emoji(text[i]) or text[i] in "\ufe0f\u200d" or 0x1F3FB <= ord(text[i]) <= 0x1F3FF):
        i += 1
    if i == 0 or i >= len(text) or not text[i].isspace():
        return None
    return text[i:].strip()


def _clean_inline(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = re.sub(r"(?<![\w*])\*(\S[^*]*?)\*(?![\w*])", r"\1", text)
    text = re.sub(r"[\u200b\u200c\u2060\ufeff]", "", text)
    return " ".join(text.replace("\u00a0", " ").split())


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.replace("\t", "    ").replace("\u00a0", " ").rstrip()
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            tokens.append(_Token("blank"))
            continue
        if re.fullmatch(r"[-*_=]{3,}", stripped):  # a thematic break ends what came before it
            tokens.extend([_Token("blank"), _Token("rule"), _Token("blank")])
            continue
        if _SEE_ALSO.match(stripped):
            tokens.append(_Token("seealso", _clean_inline(stripped)))
            continue
        m = _MD_HEADING.match(stripped)
        if m:
            tokens.append(_Token("md", _clean_inline(m[2]), indent, level=len(m[1])))
            continue
        marker, body = "", stripped
        for pattern, kind in ((_STEP_NUMBERED, "num"), (_KEYCAP, "num"), (_NUMBERED, "num"), (_BULLET, "bullet")):
            m = pattern.match(stripped)
            if m:
                marker, body = kind, m[m.lastindex]
                break
        else:
            emoji_body = _strip_emoji_bullet(stripped)
            if emoji_body is not None:
                marker, body = "bullet", emoji_body
        bold = _BOLD_LINE.match(body)
        if bold and _title_like(_clean_inline(bold[2])):
            tokens.append(_Token("bold", _clean_inline(bold[2]), indent, marker))
            continue
        lead = _BOLD_LEAD.match(body)
        tokens.append(_Token("item" if marker else "text", _clean_inline(body), indent, marker,
                             lead=_clean_inline(lead[2]).strip(" .:–—-") if lead else "",
                             lead_rest=_clean_inline(lead[3]) if lead else ""))
    return tokens


def _plain_heading(tokens: list[_Token], i: int, prev: _Line | str | None, prev_blank: bool) -> bool:
    """Whether a plain text line is a heading (articles pasted as text lose their markup)."""
    tok = tokens[i]
    text = tok.text
    if tok.indent > 0 or _INLINE_LABEL.match(text):
        return False
    if isinstance(prev, _Line) and not prev.marker and not prev_blank and prev.text[-1] not in ".!?:\"”)":
        return False  # the next line of a wrapped paragraph
    if text.endswith("?"):
        return len(text.split()) <= 20
    if text.endswith(":"):
        return _continuation_bucket(text) is not None
    if not _title_like(text) or (is_instruction(text) and not _title_case(text)) or is_dose_only(text):
        return False
    if text[0].islower() and prev is not None:
        next_blank = i + 1 >= len(tokens) or tokens[i + 1].kind == "blank"
        return prev_blank and next_blank
    return True


def _label_heading(text: str) -> bool:
    """A short line ending in a colon that opens a routine ("A simple daily routine:") or
    continues an exercise ("Steps:")."""
    return (text.endswith(":") and len(text.split()) <= 10
            and bool(_continuation_bucket(text) or _ROUTINE_HEADING.search(text)))


def _numbered_heading(text: str) -> bool:
    if text.endswith("?"):
        return len(text.split()) <= 20
    return (_title_like(text, 10) and not (is_instruction(text) and not _title_case(text))
            and not is_dose_only(text))


_NAME_PREFIX = re.compile(
    r"^(?:(?:exercise|stretch|move|movement|step|card|drill|pose|no\.?|number|part|station|block|level|round|"
    r"day|option)\s*#?\d{1,2}|#?\d{1,2})\s*(?:[:.)|]|\s[-–—]|[-–—]\s)\s*(?=\S)", re.I)


def _block_name(tokens: Sequence[_Token], i: int) -> bool:
    """Whether a line opens a block: a short name line (often after an emoji, a symbol or a
    prefix such as "Move 3 –") directly followed by an instruction line. The block's shape
    (name, instructions, dose) makes it an exercise, whatever its markup."""
    tok = tokens[i]
    if tok.kind not in ("text", "item") or tok.indent > 0 or i + 1 >= len(tokens):
        return False
    if tokens[i + 1].kind == "blank" and _decorated(tok):
        tokens = [*tokens[:i + 1], *tokens[i + 2:]]  # "✦ Hip hinge", a blank line, then what to do
    if i + 1 >= len(tokens):
        return False
    following = tokens[i + 1]
    if following.kind not in ("text", "item") or (tok.marker and following.marker and following.indent <= tok.indent
                                                   and not tok.marker == "bullet" == following.marker):
        return False
    name = _NAME_PREFIX.sub("", tok.text).rstrip(" :").strip()
    if (not _title_like(name, 8) or is_dose_only(name) or _INLINE_LABEL.match(name + ": x") or _skip_reason(name)
            or _continuation_bucket(name) or is_caution(name)):
        return False
    if is_instruction(name) and not (_EXERCISE_NOUN.search(name) or _title_case(name)):
        return False
    if _block_name_like(following.text):
        return False
    if is_instruction(_unlabelled(following.text)):
        return True
    # "A classic for the deep core." or "10 each leg" between the name and the first instruction
    after = tokens[i + 2] if i + 2 < len(tokens) else None
    between = following.text[-1:] in ".!" and len(following.text.split()) <= 20 or is_dose_only(following.text)
    return (after is not None and after.kind in ("text", "item") and between
            and is_instruction(_unlabelled(after.text)))


def _decorated(tok: _Token) -> bool:
    """A name line marked as one: after an emoji or symbol, with a prefix ("Move 3 –"), ending
    in a colon, or in capitals; it may stand a blank line above its instructions."""
    text = tok.text
    return (tok.marker == "bullet" or bool(_NAME_PREFIX.match(text)) or text.endswith(":")
            or (text.isupper() and len(text) > 3))


def _block_name_like(text: str) -> bool:
    """A following line that is itself short and unpunctuated is a list of names, not a block."""
    return _title_like(text, 5) and not is_instruction(text) and not is_dose_only(text)


def _events(text: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """Headings and body lines in reading order, plus the "See also" lines that were dropped."""
    tokens = _tokenize(text)
    explicit = any(t.kind == "md" for t in tokens) or sum(t.kind == "bold" for t in tokens) >= 2
    events: list[tuple[str, Any]] = []
    see_also: list[str] = []
    structural = 1   # level of the last Markdown or plain heading
    non_numbered = 1  # level of the last heading that was not a numbered title
    prev: _Line | str | None = None
    prev_blank = True
    in_block = False  # inside a block found by its shape: it ends at a blank line
    for i, tok in enumerate(tokens):
        if tok.kind == "blank":
            prev_blank = True
            continue
        if in_block and prev_blank and not (tok.kind in ("text", "item") and _block_tail(tok.text)):
            events.append(("end", None))
            in_block = False
        if tok.kind == "seealso":
            see_also.append(tok.text)
            continue
        if tok.kind == "rule":
            events.append(("end", None))
            in_block = False
            continue
        heading: tuple[str, str, int] | None = None
        if tok.kind == "md":
            structural = non_numbered = tok.level
            heading = (tok.text, "md", tok.level)
        elif tok.kind == "bold":
            non_numbered = min(structural + 1, 6)
            heading = (tok.text, "bold", non_numbered)
        elif prev_blank and _block_name(tokens, i):
            heading = (tok.text, "block", min(structural + 1, 6))
        elif tok.kind == "item" and tok.marker == "num" and _numbered_heading(tok.text):
            heading = (tok.text, "num", min(non_numbered + 1, 7))
        elif tok.kind == "text" and _label_heading(tok.text):
            non_numbered = min(non_numbered + 1, 6)
            heading = (tok.text, "label", non_numbered)
        elif tok.kind == "text" and not explicit and _plain_heading(tokens, i, prev, prev_blank):
            structural = non_numbered = 2
            heading = (tok.text, "plain", 2)
        if heading:
            events.append(("heading", heading))
            prev, prev_blank = "heading", False
            in_block = heading[1] == "block"
            continue
        line = _Line(tok.text, tok.indent, tok.marker, lead=tok.lead, lead_rest=tok.lead_rest)
        last = events[-1][1] if events and events[-1][0] == "line" else None
        if (last is not None and not prev_blank and not line.marker and last.text
                and last.text[-1] not in ".!?:\"”)" and (not last.marker or line.indent > last.indent)
                and not _own_line(last.text, line.text)):
            last.text = f"{last.text} {line.text}"  # a wrapped line continues the one above
        else:
            events.append(("line", line))
            prev = line
        prev_blank = False
    return events, see_also


def _own_line(last: str, text: str) -> bool:
    """A line that stands on its own although the line above has no full stop: a labelled line
    ("Caution: ..."), a caution, or anything after a dose line ("Dose: 10 repetitions")."""
    return bool(_INLINE_LABEL.match(text) or is_caution(text) or is_dose_only(_unlabelled(last))
                or (is_instruction(text) and text[0].isupper() and _INLINE_LABEL.match(last)))


def _block_tail(text: str) -> bool:
    """A paragraph after a blank line that still belongs to the block above: a dose or a caution."""
    return (is_dose_only(_unlabelled(text)) or is_caution(text) or _INLINE_LABEL.match(text) is not None
            or is_instruction(text))


def _may_continue(section: _Section, style: str, level: int, bucket: str) -> bool:
    if section.style == "none":
        return False
    if bucket == "steps":
        return True
    deeper = style != "md" or level > section.level
    return deeper and bool(_EXERCISE_NOUN.search(section.heading))


def _sections(text: str) -> tuple[list[_Section], list[str]]:
    events, see_also = _events(text)
    root = _Section("", 0, "none")
    sections, stack, current = [root], [root], root
    for kind, value in events:
        if kind == "end":  # what follows a block belongs to no exercise
            current = _Section("", current.level, "none", parent=current.parent)
            sections.append(current)
            continue
        if kind == "line":
            label = _INLINE_LABEL.match(value.text)
            if label:
                key = label["label"].lower()
                value.bucket = _LABEL_BUCKET.get(key, "notes")
                if value.bucket != "dose":  # "Reps: 10" keeps its label: a bare "10" says nothing
                    value.text = label["rest"][0].upper() + label["rest"][1:]
            else:
                value.bucket = current.bucket
            current.lines.append(value)
            continue
        heading, style, level = value
        bucket = _continuation_bucket(heading)
        if bucket and _may_continue(current, style, level, bucket):
            current.bucket = bucket
            continue
        section = _Section(heading.rstrip(":").strip(), level, style)
        while stack[-1] is not root and stack[-1].level >= level:
            stack.pop()
        section.parent = stack[-1]
        stack[-1].children.append(section)
        stack.append(section)
        sections.append(section)
        current = section
    return sections, see_also


# -- guessing position, kind, targets ---------------------------------------------------------------

# A wedge or pillows under the back or behind the trunk raise the upper body: lying back or
# sitting back on them is inclined, not supine or seated. A pillow under the head or between the
# knees does not. The content vocabulary may not have the tag yet; the draft uses this name.
INCLINED = "inclined"
_INCLINED = re.compile(
    r"\bwedge\b|\breclin\w*|\bincline\w*|\bpropped up\b|\bstack of (?:pillows|cushions)\b|"
    r"\b(?:against|on) (?:a few |some |two |three )?(?:pillows|cushions)\b|"
    r"\b(?:pillows?|cushions?|bolster) (?:under|behind) (?:your |the )?(?:back|upper back|shoulders|torso|"
    r"upper body|trunk|chest)\b", re.I)


def guess_position(name: str, steps: Sequence[str]) -> str | None:
    """The starting position named first in the name or the first two steps; None if none is.
    Lying or sitting back on a wedge or pillows is ``inclined``."""
    text = " . ".join([name, *steps[:2]])
    position = _first_position(text)
    if _INCLINED.search(text) and position in (None, "supine", "seated"):
        return INCLINED
    return position


def _first_position(text: str) -> str | None:
    """The position whose words come first in the text (ties to the more specific one)."""
    hits = []
    for order, (position, pattern) in enumerate(_POSITIONS):
        m = pattern.search(text)
        if m:
            hits.append((m.start(), order, position))
    if not hits:
        return None
    first = min(hits)[2]
    if first in ("kneeling", "lunge") and any(p == "half_kneeling" for _, _, p in hits):
        return "half_kneeling"  # "kneeling ... one knee on the ground" is the half-kneeling set-up
    return first


_KIND_RULES: list[tuple[str, re.Pattern[str]]] = [(kind, re.compile(rx, re.I)) for kind, rx in [
    ("release", r"\brelease\b|foam roll|massage ball"),
    ("strength", r"\(for [^)]*strength[^)]*\)"),
    ("mobility", r"\(for [^)]*mobility[^)]*\)"),
    ("strength", r"bridge|clam|lowering|\braises?\b|\blifts?\b|squat|plank|march|dead[- ]bug|bird[- ]dog|strength|"
                 r"thrust|crunch|curl|deadlift|step[- ]up|glute work|activation"),
    ("dynamic_stretch", r"\bdynamic\b"),
]]


def guess_kind(heading: str, dose: DoseDraft, steps: Sequence[str]) -> str | None:
    """static_stretch / dynamic_stretch / strength / mobility / release from the words, else None."""
    for kind, pattern in _KIND_RULES:
        if pattern.search(heading):
            return kind
    if re.search(r"stretch|pose|\bdrop\b|fold|opener|lunge", heading, re.I):
        if dose.reps and not dose.hold_s and not dose.breaths:
            return "dynamic_stretch"
        if dose.hold_s or dose.breaths:
            return "static_stretch"
        moving = re.search(r"\bflow\w*|\bin and out\b|\bback and forth\b", " ".join(steps), re.I)
        return "dynamic_stretch" if moving else "static_stretch"
    if re.search(r"cat[- ]cow|mobility|circle|rock|tilt|rotation|twist|swing|windshield", heading, re.I):
        return "mobility"
    return None


def guess_targets(names: Sequence[str], sentences: Sequence[str]) -> list[str]:
    """Body areas (the library's target vocabulary) the name says, or that a sentence about
    feeling/stretching/working names. A well-known exercise name settles it: the couch stretch
    works the hip flexors and quadriceps, whatever the cue "squeeze your glutes" says."""
    name_text = " . ".join(names)
    known = [targets for pattern, targets in _KNOWN_TARGETS if pattern.search(name_text)]
    if known:
        named = [name for name, pattern in _TARGETS if pattern.search(name_text)]
        return [name for name, _ in _TARGETS if name in {*named, *known[0]}]
    about = [s for s in sentences if _TARGET_SENTENCE.search(s)]
    text = _NOT_TARGET.sub(" ", " . ".join([*names, *about]))
    return [name for name, pattern in _TARGETS if pattern.search(text)]


# -- names ---------------------------------------------------------------------------------------

def split_name(heading: str) -> tuple[str, list[str], str]:
    """(name, aliases, dose text) from a heading such as "2. Kneeling Lunge Stretch (Hip Flexor
    Stretch)", "Core psoas stretch: kneeling hip flexor stretch" or "Glute bridge – 2 x 10 reps"."""
    text = re.sub(r"^[^\w(]+", "", heading.strip())  # emoji or bullet before a heading
    text = re.sub(r"^\d{1,2}\s*[.)]\s*", "", text)
    text = _NAME_PREFIX.sub("", text)
    text = text.strip(" :")
    dose_text = ""
    parts = re.split(r"\s*(?::|\s[–—-]\s)\s*", text, maxsplit=1)
    if len(parts) == 2:
        left, right = parts
        if is_dose_only(right):
            text, dose_text = left, right
        elif _title_like(right, 8) and not is_dose_only(left):
            text = right
    aliases = []
    for inner in re.findall(r"\(([^)]*)\)", text):
        inner = inner.strip()
        if is_dose_only(inner):
            dose_text = f"{dose_text} {inner}".strip()
            continue
        inner = re.sub(r"^(?:aka|a\.k\.a\.?|also called|also known as|or)\s+", "", inner, flags=re.I)
        if inner and _title_like(inner, 6) and not re.match(r"(?:for|to|with|optional|advanced|beginners?|"
                                                            r"easy|easier|harder|ideal|great|see)\b", inner, re.I):
            aliases.append(inner[0].upper() + inner[1:])
    name = re.sub(r"\s*\([^)]*\)", "", text).strip(" -–—:")
    if name.isupper() and len(name) > 3:
        name = name.lower()  # "BELLY BREATHING" is a name shouted, not an acronym
    name = name[0].upper() + name[1:] if name else heading.strip()
    return name, aliases, dose_text


# -- exercises -----------------------------------------------------------------------------------

@dataclass
class _Body:
    steps: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dose_lines: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # "Target: lower back, glutes"


def _has_child(lines: Sequence[_Line], index: int) -> bool:
    line = lines[index]
    return index + 1 < len(lines) and lines[index + 1].indent > line.indent and (
        bool(lines[index + 1].marker) or bool(line.marker))


def _read_body(lines: Sequence[_Line]) -> _Body:
    """Sort a section's lines into steps, cues, mistakes, notes and dose-only lines."""
    body = _Body()
    for bucket in ("cues", "mistakes", "notes"):
        getattr(body, bucket).extend(line.text for line in lines if line.bucket == bucket)
    body.dose_lines.extend(line.text for line in lines if line.bucket == "dose")
    body.cautions.extend(line.text for line in lines if line.bucket == "cautions")
    body.targets.extend(line.text for line in lines if line.bucket == "targets")
    step_lines = [line for line in lines if line.bucket == "steps"]
    first_item = next((i for i, line in enumerate(step_lines) if line.marker), None)
    for i, line in enumerate(step_lines):
        text = line.text
        if first_item is not None and line.marker:
            if _has_child(step_lines, i):
                continue  # a group title such as "1. Kneel on a mat" over its own bullets
            if not _set_aside(body, text):
                body.steps.append(text)
            continue
        for sentence in _sentences(text):
            if _set_aside(body, sentence):
                continue
            if first_item is None and (is_instruction(sentence) or not read_dose(sentence).is_empty()):
                body.steps.append(sentence)
            elif first_item is not None and i > first_item and is_instruction(sentence):
                # after the list: a dosed instruction is the last step, others are cues
                (body.cues if read_dose(sentence).is_empty() else body.steps).append(sentence)
            elif first_item is not None and i < first_item and is_instruction(sentence):
                body.steps.append(sentence)  # instructions written as a paragraph above a list
            else:
                body.notes.append(sentence)
    return body


def _set_aside(body: _Body, sentence: str) -> bool:
    """Put a routine summary, a caution or a dose-only sentence where it belongs (never in the
    steps); False when the sentence is none of them."""
    if _SUMMARY.search(sentence):
        body.notes.append(sentence)  # "Do moves 1–4 twice": the routine's dose, not this exercise's
    elif is_caution(sentence):
        body.cautions.append(sentence)
    elif is_dose_sentence(sentence):
        body.dose_lines.append(sentence)
    else:
        return False
    return True


def _make_exercise(heading: str, body: _Body, dose_text: str = "") -> ExerciseDraft:
    name, aliases, heading_dose = split_name(heading)
    # Stated doses first: a figure in a passing remark ("if you only have five minutes") must not win.
    dose = read_dose(" . ".join([heading_dose, dose_text, *body.dose_lines, *body.steps, *body.cues]))
    colon_part = heading.split(":", 1)[0] if ":" in heading else ""
    colon_part = re.sub(r"\bcore (?=psoas|stretch|exercise|move)", "", colon_part, flags=re.I)
    return ExerciseDraft(
        name=name,
        steps=body.steps,
        dose=dose,
        position=guess_position(" ".join([heading, *aliases]), body.steps),
        kind=guess_kind(heading, dose, body.steps),
        targets=guess_targets([name, *aliases, colon_part, *body.targets], [*body.steps, *body.notes]),
        aliases=aliases,
        heading=re.sub(r"^\d{1,2}\s*[.)]\s*", "", heading).strip(),
        cues=body.cues,
        mistakes=body.mistakes,
        notes=body.notes,
        cautions=body.cautions,
    )


def _section_exercise(section: _Section) -> ExerciseDraft | None:
    """The section as one exercise, when its heading names a movement and its body instructs,
    when it has a block's shape, or when a short name heads instructions with a dose."""
    if not section.heading.strip():
        return None
    body = _read_body(section.lines)
    if not body.steps:
        return None
    instructions = [s for s in body.steps if is_instruction(s)]
    draft = _make_exercise(section.heading, body)
    named = bool(_EXERCISE_NOUN.search(section.heading))
    dosed = draft.dose.has_amount() or draft.dose.duration_s is not None
    short_name = _title_like(draft.name, 6) and not is_instruction(draft.name)
    if ((named and instructions) or (len(instructions) >= 2 and dosed) or (section.style == "block" and instructions)
            or (short_name and instructions and dosed)):
        return draft
    return None


_NAME_DESC = re.compile(r"^(?P<name>[^:.!?]{2,70}?)(?P<sep>:|\s[–—-]\s|\.\s)\s*(?P<desc>\S.*)$")


def _chunk_name_ok(name: str, container: bool, sep: str) -> bool:
    name = name.strip()
    if not _title_like(name, 8) or is_instruction(name) or is_dose_only(name) or _INLINE_LABEL.match(name + ": x"):
        return False
    if _skip_reason(name) or _continuation_bucket(name):
        return False
    noun = _EXERCISE_NOUN.search(name) and (len(name.split()) >= 2 or _SINGLE_WORD_EXERCISES.match(name))
    if container and sep == ":":
        return bool(noun) or name.istitle()
    return bool(noun)


def _chunk_exercises(section: _Section) -> list[ExerciseDraft]:
    """Exercises written as "Name: what to do" items or "Name. What to do." paragraphs."""
    lines = [line for line in section.lines if line.bucket == "steps"]
    items = [line for line in lines if line.marker]
    top = min((line.indent for line in items), default=0)
    container = bool(re.search(r"exercises|stretches|moves|poses|drills|movements", section.heading, re.I))
    # Two or more "Name: what to do" lines make a list of exercises, whatever words the names use.
    listed = sum(bool(m and _listed_name(m) and is_instruction(_sentences(m["desc"])[0]))
                 for m in (_NAME_DESC.match(line.text) for line in lines if not line.indent))
    drafts = []
    for i, line in enumerate(lines):
        if (line.marker and line.indent != top) or (not line.marker and line.indent > 0):
            continue
        if line.lead and _lead_name_ok(line.lead):
            name, desc = line.lead, line.lead_rest
        else:
            m = _NAME_DESC.match(line.text)
            if not m or not (_chunk_name_ok(m["name"], container, m["sep"].strip() or ".")
                             or (listed >= 2 and _listed_name(m))):
                continue
            name, desc = m["name"].strip(), m["desc"]
        children = []
        for child in lines[i + 1:]:
            if child.indent <= line.indent:
                break
            children.append(child.text)
        body = _sort_sentences(_sentences(desc) + children)
        if not body.steps:
            continue
        drafts.append(_make_exercise(name, body))
    return drafts


def _listed_name(m: re.Match[str]) -> bool:
    """A short name before "Name: what to do" or "Name – what to do" (not "Name. What to do":
    a sentence of a letter looks the same) that is not a label or a dose. A verb may start it
    ("Sit to stand") when it is four words at most."""
    name = m["name"].strip()
    return (m["sep"].strip() in (":", "-", "–", "—") and _lead_name_ok(name) and _title_like(name, 5)
            and (not is_instruction(name) or len(name.split()) <= 4) and not _NOT_A_NAME.match(name))


_NOT_A_NAME = re.compile(r"(?:before|after|when|if|during|while|then|first|next|finally|always|never|remember|"
                         r"note|important|equipment|frequency|time|duration|goal|why|how|what|who|where|"
                         r"beginners?|advanced|level|day|week|morning|evening|option)\b", re.I)


def _lead_name_ok(name: str) -> bool:
    """A bold lead-in names an exercise when it reads like a name, whatever words it uses."""
    return (_title_like(name, 8) and not is_dose_only(name) and not _INLINE_LABEL.match(name + ": x")
            and not _skip_reason(name) and not _continuation_bucket(name) and not is_caution(name))


def _sort_sentences(sentences: Sequence[str]) -> _Body:
    """Sentences of a "Name: what to do" item: cautions, dose-only sentences, steps, notes."""
    body = _Body()
    for sentence in sentences:
        if _set_aside(body, sentence):
            continue
        if is_instruction(sentence):
            body.steps.append(sentence)
        else:
            body.notes.append(sentence)
    return body


# -- routines ------------------------------------------------------------------------------------

def _slot(text: str) -> str | None:
    for slot, pattern in _SLOTS:
        if re.search(pattern, text, re.I):
            return slot
    return None


def _routine_item(text: str, first_level: Sequence[str], deeper: Sequence[str]) -> RoutineItemDraft | None:
    """A routine item from its title line and the lines under it; None when it names nothing
    that could be an exercise, a dose or a time of day."""
    m = _NAME_DESC.match(text)
    note = None
    if m and not is_dose_only(m["desc"]) and _title_like(m["name"], 8) and m["sep"].strip() == ":":
        name, aliases, dose_text = split_name(m["name"])
        note = m["desc"].strip()
        dose = read_dose(" . ".join([dose_text, note, *first_level]))
    else:
        name, aliases, dose_text = split_name(text)
        dose = read_dose(" . ".join([dose_text, *first_level]))
    if deeper:
        note = "; ".join(filter(None, [note, *deeper]))
    slot = _slot(name)
    if not (_EXERCISE_NOUN.search(name) or not dose.is_empty() or slot):
        return None
    return RoutineItemDraft(name=name, dose=dose, slot=slot, note=note, aliases=aliases)


def _item_lines(lines: Sequence[_Line]) -> tuple[list[str], list[str]]:
    """Lines under a routine item: its first level (dose), and anything deeper (note)."""
    items = [line for line in lines if line.marker or line.indent > 0]
    doses = [line.text for line in lines if not line.marker and line.indent == 0 and is_dose_only(line.text)]
    if not items:
        return doses, []
    top = min(line.indent for line in items)
    return [line.text for line in items if line.indent == top] + doses, [
        line.text for line in items if line.indent > top]


def _routine_items(section: _Section) -> list[RoutineItemDraft]:
    out: list[RoutineItemDraft] = []
    lines = [line for line in section.lines if line.bucket == "steps"]
    items = [(i, line) for i, line in enumerate(lines) if line.marker]
    if items:
        top = min(line.indent for _, line in items)
        tops = [i for i, line in items if line.indent == top]
        for n, i in enumerate(tops):
            end = tops[n + 1] if n + 1 < len(tops) else len(lines)
            under = [line for line in lines[i + 1:end] if line.indent > top]
            first, deeper = _item_lines(under)
            item = _routine_item(lines[i].text, first, deeper)
            if item:
                out.append(item)
    for child in section.children:
        first, deeper = _item_lines(child.lines)
        item = _routine_item(child.heading, first, deeper)
        if item:
            out.append(item)
    return out


# -- the reader ----------------------------------------------------------------------------------

def _classify(sections: list[_Section]) -> None:
    previous_reason: str | None = None
    for section in sections[1:]:
        reason = _skip_reason(section.heading)
        if reason == "question" and previous_reason == "faq":
            reason = "faq"  # the questions under a FAQ heading
        parent = section.parent
        if parent is not None and parent.skip and parent.style != "none":
            reason = parent.skip
        section.skip = reason
        if reason in ("faq", "question"):
            previous_reason = "faq" if reason == "faq" else previous_reason
        elif reason is None:
            previous_reason = None
        section.routine = bool(not reason and _ROUTINE_HEADING.search(section.heading)
                               and len(_routine_items(section)) >= 2)


def _not_exercise_reason(section: _Section, index: int, found_any: bool) -> str:
    text = " ".join(line.text for line in section.lines)
    if _BIO.search(text):
        return "author bio"
    if _SUMMARY.search(text):
        return "routine summary"
    if index == 0 or not found_any:
        return "introduction"
    return "no exercise steps"


def read_article(text: str, library: Iterable[Any] = (), *, html: bool | None = None) -> ArticleDrafts:
    """Draft exercises, routines and the skipped parts of an article.

    ``library`` is any iterable of entries with id, name and aliases (see
    ``core.library.article_match.as_library_entries``); each draft is matched against it. ``html``
    forces or forbids HTML reduction; by default HTML is recognised by its tags.
    """
    if html or (html is None and looks_like_html(text)):
        text = html_to_text(text)
    entries = as_library_entries(library)
    sections, see_also = _sections(table_rows_as_blocks(text))
    _classify(sections)
    drafts = ArticleDrafts(skipped=[SkippedSection(line, "see also") for line in see_also])
    routine_sections: list[_Section] = []
    # The article's title ("Hip openers for beginners") names the whole piece, not one exercise,
    # unless the article turns out to describe just that one.
    title = sections[1] if (len(sections) > 1 and not sections[0].lines
                            and (sections[1].style == "plain" or sections[1].level == 1)) else None
    drafts.title = title.heading if title else None
    title_skip: SkippedSection | None = None
    for index, section in enumerate(sections):
        has_text = bool(section.lines) and any(line.text for line in section.lines)
        if section.skip:
            if has_text or section.children:
                drafts.skipped.append(SkippedSection(section.heading, section.skip))
            continue
        if section.routine:
            routine_sections.append(section)
            # "A 10-minute pre-run routine" that describes each move: its items are exercises too
            # (a time of day such as "Morning warm-up: ..." is a part of the routine, not an exercise)
            described = [d for d in _chunk_exercises(section) if _slot(d.name) is None]
            drafts.exercises.extend(described if len(described) >= 2 else [])
            continue
        in_routine = section.parent is not None and section.parent.routine
        found = _chunk_exercises(section) if not in_routine else []
        if not found and section is not title:
            single = _section_exercise(section)
            found = [single] if single else []
        drafts.exercises.extend(found)
        if not found and not in_routine and has_text:
            reason = _not_exercise_reason(section, index, bool(drafts.exercises))
            drafts.skipped.append(SkippedSection(section.heading, reason))
            title_skip = drafts.skipped[-1] if section is title else title_skip
    if not drafts.exercises and title is not None and title_skip is not None:
        single = _section_exercise(title)
        if single:
            drafts.exercises.append(single)
            drafts.skipped.remove(title_skip)
    drafts.exercises = _unique(drafts.exercises)
    for draft in drafts.exercises:
        draft.match = match_library(draft.names(), entries)
    for section in routine_sections:
        name = re.sub(r"^\d{1,2}\s*[.)]\s*", "", section.heading).strip() or "Routine"
        routine = RoutineDraft(name=name, items=_routine_items(section))
        for item in routine.items:
            _link_item(item, drafts.exercises, entries)
        drafts.routines.append(routine)
    summary = _summary_routine(sections, drafts)
    if summary is not None:
        drafts.routines.append(summary)
    return drafts


_SUMMARY = re.compile(
    r"\b(?:moves?|exercises?|stretches?|drills?|cards?|blocks?|poses?|steps?)\s+(?P<a>\d{1,2})\s*"
    r"(?:[-–—]|to|through|and)\s*(?P<b>\d{1,2})\b"
    r"|\b(?:all|each of)(?: of)? (?:the |these |those )?(?:\w+ )?(?:moves|exercises|stretches|drills)\b"
    r"|\bthe (?:whole|full|entire) (?:set|sequence|routine|circuit|series)\b", re.I)


def _summary_routine(sections: Sequence[_Section], drafts: ArticleDrafts) -> RoutineDraft | None:
    """A routine from a summary sentence such as "Do moves 1–4 twice" (or "Repeat the whole
    sequence 3 times"): the numbered exercises, each for the rounds the sentence gives."""
    if len(drafts.exercises) < 2 or any(r.items for r in drafts.routines):
        return None
    for section in sections:
        for line in section.lines:
            for sentence in _sentences(line.text):
                m = _SUMMARY.search(sentence)
                dose = read_dose(sentence)
                rounds = dose.sets or dose.reps
                if not m or rounds is None:
                    continue
                first, last = (int(m["a"]) - 1, int(m["b"])) if m["a"] else (0, len(drafts.exercises))
                chosen = list(range(max(first, 0), min(last, len(drafts.exercises))))
                if len(chosen) < 2:
                    continue
                items = [RoutineItemDraft(name=drafts.exercises[i].name, dose=DoseDraft(sets=rounds),
                                          match=drafts.exercises[i].match, exercise_index=i) for i in chosen]
                return RoutineDraft(name=drafts.title or sentence.rstrip("."), items=items)
    return None


def _unique(drafts: list[ExerciseDraft]) -> list[ExerciseDraft]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for draft in drafts:
        key = tuple(sorted(name_tokens(draft.name)))
        if key not in seen:
            seen.add(key)
            out.append(draft)
    return out


def _link_item(item: RoutineItemDraft, exercises: Sequence[ExerciseDraft], library: Sequence[Any]) -> None:
    names = [item.name, *item.aliases]
    found = best_match(names, [(str(i), d.names()) for i, d in enumerate(exercises)])
    if found:
        item.exercise_index = int(found[0])
        item.match = exercises[item.exercise_index].match
    if item.match is None:
        item.match = match_library(names, library)


def read_article_file(data: bytes | str, filename: str | None = None, library: Iterable[Any] = ()) -> ArticleDrafts:
    """``read_article`` for an upload: decodes, and reduces HTML by file name or content."""
    return read_article(article_text(data, filename), library, html=False)
