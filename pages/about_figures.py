"""About these figures: the definitions behind every adherence, pain and alert figure, in the app.

Rendered from docs/analytics/metrics.md, the one text the code follows, so the page and the
definitions cannot drift apart. Only the sections staff need are shown (not the command line or
caching notes), and references to the program's files are left out: staff read what a figure
means, not where it is computed.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from pages.common import get_store

DEFINITIONS = Path(__file__).resolve().parents[1] / "docs" / "analytics" / "metrics.md"
FOR_STAFF = ("Period", "Assignments and active days", "Expected sessions", "Which assignment a session belongs to",
             "Completion of one session", "Adherence", "Status", "Pain response", "Practice overview", "Cohorts",
             "Alerts")
# "(core/analytics/alerts.py)", "`tests/unit/test_metrics.py`": where the program keeps things, not what they mean.
_FILE_REFERENCE = re.compile(r"\s*\((?:see )?`?(?:core|docs|tests|pages)/[^)]*\)|`[^`\n]*(?:/|\.py)[^`\n]*`")


def staff_sections(text: str) -> list[tuple[str, str]]:
    """The (heading, body) pairs of the definitions staff read, file references removed."""
    sections = []
    for part in text.split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        if heading.strip().startswith(FOR_STAFF):
            sections.append((heading.strip(), _as_code(_FILE_REFERENCE.sub("", body).strip())))
    return sections


def _as_code(body: str) -> str:
    """Field names written bare in a formula (expected_w, change_pct) set as code, as the rest of the
    text sets them, so they read as the names they are."""
    parts = re.split(r"(`[^`]*`)", body)
    return "".join(part if part.startswith("`") else _rounded(_BARE_FIELD.sub(r"`\1`", part)) for part in parts)


def _rounded(text: str) -> str:
    """Long decimals in the examples to two places, as the pages show them ("= 2.142857" reads "≈ 2.14")."""
    return _LONG_DECIMAL.sub(lambda m: ("≈ " if m.group(1) else "") + f"{float(m.group(2)):.2f}", text)


_BARE_FIELD = re.compile(r"(?<![\w`])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w`])")
_LONG_DECIMAL = re.compile(r"(=\s*)?(\d+\.\d{3,})")


get_store()
st.title("About these figures")
st.caption("How every adherence, pain and alert figure on the overview, client and cohort pages is worked out."
           " All of them are what clients reported in their session logs: self-reported diaries tend to run"
           " high, so read them as reported figures, not measured ones.")
try:
    found = staff_sections(DEFINITIONS.read_text(encoding="utf-8"))
except OSError:
    found = []
if not found:
    st.info("The definitions are not installed with this copy of Routine Desk. Ask whoever set it up.")
for heading, body in found:
    with st.expander(heading, expanded=heading.startswith(("Adherence", "Status", "Pain response"))):
        st.markdown(body)
