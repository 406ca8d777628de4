"""Import from article: paste or upload an article, review the drafts, accept, merge or discard.

Nothing is written until staff press Accept or Merge on a draft; reading happens in core.library.articles,
saving in core.library.article_import.
"""

import re

import streamlit as st

from core.library.article_import import (
    FIELD_LABELS,
    POSITION_CAUTIONS,
    ArticleSource,
    accept_draft,
    cautions_for,
    draft_from_form,
    dose_text,
    readable_problem,
    routine_rows,
)
from core.library.articles import read_article_file
from core.library.content import Audience, Caution, Kind, Position, Target, data_dir, library_label
from core.library.search import all_exercises, get_exercise, list_exercises
from pages.common import escape_markdown, get_store, show_table, staff_session

KINDS = list(Kind.__args__)
POSITIONS = list(Position.__args__)
TARGETS = list(Target.__args__)
CAUTIONS = list(Caution.__args__)
AUDIENCES = list(Audience.__args__)


def _label(value: object) -> str:
    return "— pick —" if value is None else library_label(str(value))


def _pair_text(pair: tuple[int, int] | None) -> str:
    if pair is None:
        return ""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


store = get_store()
session = staff_session()  # app.py only registers this page for owners and therapists
st.title("Import from article")
st.caption("Paste an article or upload a .txt, .md or .html file. The exercises it describes become drafts "
           "you can edit and accept; nothing is saved until you accept or merge a draft. "
           "Rewrite copied steps in the studio's own words before accepting.")

mode = st.radio("Article", ["Paste text", "Upload a file"], horizontal=True, key="ai_mode")
upload = None
if mode == "Paste text":
    pasted = st.text_area("Article text", key="ai_text", height=220)
else:
    upload = st.file_uploader("Article file", type=["txt", "md", "html", "htm"], key="ai_file")
if st.button("Read article", key="ai_read", type="primary"):
    raw = upload.getvalue() if upload is not None else st.session_state.get("ai_text", "")
    if not raw or (isinstance(raw, str) and not raw.strip()):
        st.warning("Paste some text or choose a file first.")
    else:
        drafts = read_article_file(raw, upload.name if upload is not None else None, all_exercises(store))
        for key in [k for k in st.session_state if re.fullmatch(r"ai_[a-z]+_\d+", str(k))]:
            del st.session_state[key]  # the previous article's edits must not carry over
        st.session_state["ai_drafts"] = drafts
        st.session_state["ai_done"] = {}
        st.session_state["ai_title"] = drafts.title or (upload.name if upload is not None else "")

drafts = st.session_state.get("ai_drafts")
if drafts is None:
    st.info("Read an article to see its draft exercises here.")
    st.stop()

title_col, url_col = st.columns(2)
title = title_col.text_input("Article title (saved as the source)", key="ai_title")
url = url_col.text_input("Article URL (optional)", key="ai_url")
source = ArticleSource(title.strip(), url.strip() or None)
done: dict[int, str] = st.session_state.setdefault("ai_done", {})

st.subheader(f"{len(drafts.exercises)} exercise draft(s)")
if not drafts.exercises:
    st.info("No exercise was found in this article. The parts that were skipped are listed below.")

library = list_exercises(store)
library_names = dict(zip(library["id"], library["name"]))
folder = data_dir() / "exercises"

for i, draft in enumerate(drafts.exercises):
    with st.container(border=True):
        st.markdown(f"**Draft {i + 1}: {escape_markdown(draft.name)}** —"
                    f" {escape_markdown(dose_text(draft.dose) or 'no dose in the text')}")
        if i in done:
            st.success(done[i])
            continue
        edit, match = st.columns(2)
        with match:
            if draft.match is not None and draft.match.exercise_id in library_names:
                entry = get_exercise(store, draft.match.exercise_id)
                st.markdown(f"**Library match:** {escape_markdown(entry['name'])} (match {draft.match.score:.0%})")
                if entry["aliases"]:
                    st.caption("Also called: " + ", ".join(escape_markdown(a) for a in entry["aliases"]))
                st.markdown(f"**Usual dose:** {escape_markdown(entry['dose_text'])}  \n**Position:**"
                            f" {_label(entry['position'])}  \n**Kind:** {_label(entry['kind'])}")
                st.markdown("\n".join(f"{n}. {escape_markdown(s)}" for n, s in enumerate(entry["steps"], 1)))
                if entry["cautions"]:
                    st.warning("**Cautions:** " + ", ".join(escape_markdown(library_label(c))
                                                            for c in entry["cautions"]), icon=":material/warning:")
            else:
                st.markdown("**No library match** — accepting makes it a new exercise.")
            if draft.notes:
                with st.expander("Other sentences from the article"):
                    st.markdown("\n".join(f"- {escape_markdown(n)}" for n in draft.notes))
        with edit, st.form(key=f"ai_form_{i}"):
            form = {
                "name": st.text_input("Name", draft.name, key=f"ai_name_{i}"),
                "aliases": st.text_input("Aliases (comma-separated)", ", ".join(draft.aliases), key=f"ai_aliases_{i}"),
                "steps": st.text_area("Steps (one per line)", "\n".join(draft.steps), height=220, key=f"ai_steps_{i}"),
                "cues": st.text_area("Cues (one per line)", "\n".join(draft.cues), key=f"ai_cues_{i}"),
                "mistakes": st.text_area("Common mistakes (one per line)", "\n".join(draft.mistakes),
                                         key=f"ai_mistakes_{i}"),
            }
            c1, c2 = st.columns(2)
            form["kind"] = c1.selectbox("Kind", [None, *KINDS], index=([None, *KINDS].index(draft.kind)),
                                        format_func=_label, key=f"ai_kind_{i}")
            form["position"] = c2.selectbox("Position", [None, *POSITIONS],
                                            index=[None, *POSITIONS].index(draft.position),
                                            format_func=_label, key=f"ai_position_{i}")
            form["targets"] = st.multiselect("Targets", TARGETS, draft.targets, format_func=_label,
                                             key=f"ai_targets_{i}")
            d1, d2, d3, d4 = st.columns(4)
            form["hold_s"] = d1.text_input(FIELD_LABELS["dose.hold_s"], _pair_text(draft.dose.hold_s),
                                           key=f"ai_hold_{i}")
            form["reps"] = d2.text_input(FIELD_LABELS["dose.reps"], _pair_text(draft.dose.reps), key=f"ai_reps_{i}")
            form["sets"] = d3.text_input(FIELD_LABELS["dose.sets"], _pair_text(draft.dose.sets), key=f"ai_sets_{i}")
            form["breaths"] = d4.text_input(FIELD_LABELS["dose.breaths"], _pair_text(draft.dose.breaths),
                                            key=f"ai_breaths_{i}")
            e1, e2 = st.columns(2)
            form["per_side"] = e1.selectbox(FIELD_LABELS["dose.per_side"], [None, True, False],
                                            index=[None, True, False].index(draft.dose.per_side),
                                            format_func=lambda v: {None: "— pick —", True: "yes", False: "no"}[v],
                                            key=f"ai_side_{i}")
            form["seconds_per_rep"] = e2.number_input(FIELD_LABELS["dose.seconds_per_rep"], min_value=0.0,
                                                      max_value=60.0, value=draft.dose.seconds_per_rep,
                                                      key=f"ai_spr_{i}")
            form["cautions"] = st.multiselect(
                "Cautions", CAUTIONS, cautions_for(draft.position), format_func=_label, key=f"ai_cautions_{i}",
                help="Filled from the position (" + ", ".join(f"{_label(p)} → {_label(c)}"
                                                              for p, c in POSITION_CAUTIONS.items())
                     + "); add what else applies.")
            form["audiences"] = st.multiselect("Suits", AUDIENCES, [], format_func=_label, key=f"ai_audiences_{i}")
            targets = [None, *library_names]
            target = st.selectbox("Merge into", targets, format_func=lambda v: library_names.get(v, "— pick —"),
                                  index=targets.index(draft.match.exercise_id)
                                  if draft.match and draft.match.exercise_id in library_names else 0,
                                  key=f"ai_target_{i}")
            b1, b2, b3 = st.columns(3)
            accept = b1.form_submit_button("Accept as new", key=f"ai_accept_{i}")
            merge = b2.form_submit_button("Merge", key=f"ai_merge_{i}")
            discard = b3.form_submit_button("Discard", key=f"ai_discard_{i}")
        if discard:
            done[i] = "Discarded."
            st.rerun()
        if accept or merge:
            edited, extras, problems = draft_from_form(draft, form)
            if not source.title:
                problems.append("Give the article a title first: it is saved as the source.")
            if merge and target is None:
                problems.append("Pick the library exercise to merge into.")
            if problems:
                st.error("\n".join(f"- {escape_markdown(readable_problem(p))}" for p in problems))
            else:
                try:
                    result = accept_draft(store, session.username, edited, source, folder,
                                          merge_into_id=None if accept else target, extras=extras)
                except PermissionError as exc:
                    st.error(escape_markdown(exc))
                    st.stop()
                if result.action == "rejected":
                    st.error("Not saved:\n" + "\n".join(f"- {escape_markdown(readable_problem(p))}"
                                                          for p in result.problems))
                else:
                    name = escape_markdown(library_names.get(result.exercise_id) or edited.name)
                    done[i] = (f"{result.action.capitalize()}: “{name}” is in the exercise library"
                               " (find it on the Exercise library page).")
                    st.rerun()

if drafts.routines:
    st.subheader(f"{len(drafts.routines)} routine draft(s)")
    st.caption("Shown for reference: build the routine on the Routines pages from the accepted exercises.")
    for routine in drafts.routines:
        st.markdown(f"**{escape_markdown(routine.name)}**")
        show_table(routine_rows(routine, drafts.exercises))

if drafts.skipped:
    with st.expander(f"{len(drafts.skipped)} part(s) of the article were not read as exercises"):
        show_table(drafts.to_dict()["skipped"])
