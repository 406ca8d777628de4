"""Library: find an exercise by name or alias, narrow by kind, position, target, audience, caution."""

import streamlit as st

from core.library.content import content_problems, sync_library
from core.library.search import LibraryFilter, facet_values, get_exercise, list_exercises
from pages.common import get_store

store = get_store()
st.title("Exercise library")

problems = content_problems(store)
if problems:
    with st.expander(f"⚠️ {len({p.file for p in problems})} content file(s) skipped — click for details"):
        st.write("These files were not loaded (the last good version, if any, stays in use):")
        st.dataframe([p.__dict__ for p in problems], hide_index=True, width="stretch")

facets = facet_values(store)
search, reload = st.columns([5, 1], vertical_alignment="bottom")
text = search.text_input("Search name or alias", key="lib_text", placeholder="e.g. lunge, bridge, psoas")
if reload.button("Reload files", help="Re-read data/exercises and data/routines"):
    report = sync_library(store)
    st.toast(f"Library: {len(report.added)} added, {len(report.updated)} updated, {len(report.problems)} problem(s)")

cols = st.columns(5)
flt = LibraryFilter(
    text=text,
    kinds=tuple(cols[0].multiselect("Kind", facets["kind"], key="lib_kind")),
    positions=tuple(cols[1].multiselect("Position", facets["position"], key="lib_position")),
    targets=tuple(cols[2].multiselect("Target", facets["target"], key="lib_target")),
    audiences=tuple(cols[3].multiselect("Audience", facets["audience"], key="lib_audience")),
    cautions=tuple(cols[4].multiselect("Caution", facets["caution"], key="lib_caution")),
)
exercises = list_exercises(store, flt)
st.caption(f"{len(exercises)} exercise(s)")
st.dataframe(
    exercises.drop(columns=["id"]), hide_index=True, width="stretch",
    column_config={"name": "Exercise", "dose": "Usual dose"},
)

if exercises.empty:
    st.info("No exercise matches. Clear a filter or search for another name.")
    st.stop()

names = dict(zip(exercises["id"], exercises["name"]))
chosen = st.selectbox("Show exercise", list(names), format_func=names.get, key="lib_detail")
exercise = get_exercise(store, chosen)
st.header(exercise["name"])
if exercise["aliases"]:
    st.caption("Also called: " + ", ".join(exercise["aliases"]))
if exercise["summary"]:
    st.write(exercise["summary"])
facts, body = st.columns([1, 2])
with facts:
    st.markdown(f"**Dose:** {exercise['dose_text']}")
    st.markdown(f"**Kind:** {exercise['kind'].replace('_', ' ')}  \n**Position:** {exercise['position'].replace('_', ' ')}")
    st.markdown("**Targets:** " + ", ".join(t.replace("_", " ") for t in exercise["targets"]))
    if exercise["equipment"]:
        st.markdown("**Equipment:** " + ", ".join(exercise["equipment"]))
    if exercise["audiences"]:
        st.markdown("**Suits:** " + ", ".join(a.replace("_", " ") for a in exercise["audiences"]))
    if exercise["cautions"]:
        st.warning("**Cautions:** " + ", ".join(c.replace("_", " ") for c in exercise["cautions"]))
with body:
    st.subheader("Steps")
    st.markdown("\n".join(f"{i}. {step}" for i, step in enumerate(exercise["steps"], 1)))
    if exercise["cues"]:
        st.subheader("Cues")
        st.markdown("\n".join(f"- {cue}" for cue in exercise["cues"]))
    if exercise["mistakes"]:
        st.subheader("Common mistakes")
        st.markdown("\n".join(f"- {m}" for m in exercise["mistakes"]))
st.caption("Source: " + "; ".join(
    f"[{s['title']}]({s['url']})" if s["url"] else f"“{s['title']}”" for s in exercise["sources"]
) + f" — written in our own words. File: `{exercise['source_file']}`")
