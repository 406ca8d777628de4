"""Library: find an exercise by name or alias, narrow by kind, position, target, audience, caution."""

import streamlit as st

from core.library.content import content_problems, library_label, sync_library
from core.library.search import LibraryFilter, facet_values, get_exercise, list_exercises
from pages.common import escape_markdown, get_store, show_table


def readable_problem(problem) -> str:
    """A content file's problem in words: a field path such as dose.seconds_per_rep reads
    "Dose, seconds per rep"."""
    where = problem.field.replace(".", ", ").replace("_", " ").capitalize() if problem.field else ""
    return f"{where}: {problem.message}" if where else problem.message


store = get_store()
st.title("Exercise library")

problems = content_problems(store)
if problems:
    with st.expander(f"{len({p.file for p in problems})} content file(s) skipped — click for details",
                     icon=":material/warning:"):
        st.write("These files were not loaded (the last good version, if any, stays in use). Whoever looks"
                 " after the content files can fix them:")
        show_table([{"file": p.file.rsplit("/", 1)[-1], "problem": readable_problem(p)} for p in problems],
                   column_config={"file": "File", "problem": st.column_config.TextColumn("Problem", width="large")})

facets = facet_values(store)
search, reload = st.columns([5, 1], vertical_alignment="bottom")
text = search.text_input("Search name or alias", key="lib_text", placeholder="e.g. lunge, bridge, psoas")
if reload.button("Reload files", help="Read the exercise and routine files again", icon=":material/refresh:"):
    report = sync_library(store)
    st.toast(f"Library: {len(report.added)} added, {len(report.updated)} updated, {len(report.problems)} problem(s)")

cols = st.columns(5)
flt = LibraryFilter(
    text=text,
    kinds=tuple(cols[0].multiselect("Kind", facets["kind"], key="lib_kind", format_func=library_label)),
    positions=tuple(cols[1].multiselect("Position", facets["position"], key="lib_position", format_func=library_label)),
    targets=tuple(cols[2].multiselect("Target", facets["target"], key="lib_target", format_func=library_label)),
    audiences=tuple(cols[3].multiselect("Audience", facets["audience"], key="lib_audience", format_func=library_label)),
    cautions=tuple(cols[4].multiselect("Caution", facets["caution"], key="lib_caution", format_func=library_label)),
)
exercises = list_exercises(store, flt)

st.caption(f"{len(exercises)} exercise(s)")
show_table(
    exercises.drop(columns=["id"]),
    column_config={column: column.replace("_", " ").capitalize() for column in exercises.columns}
    | {"name": st.column_config.TextColumn("Exercise", pinned=True), "dose": "Usual dose"},
)

if exercises.empty:
    st.info("No exercise matches. Clear a filter or search for another name.")
    st.stop()

names = dict(zip(exercises["id"], exercises["name"]))
chosen = st.selectbox("Show exercise", list(names), format_func=names.get, key="lib_detail")
exercise = get_exercise(store, chosen)
# Exercises can come from articles staff imported: their text is shown as written, never as Markdown.
st.header(escape_markdown(exercise["name"]))
if exercise["aliases"]:
    st.caption("Also called: " + ", ".join(escape_markdown(a) for a in exercise["aliases"]))
if exercise["summary"]:
    st.markdown(escape_markdown(exercise["summary"]))
facts, body = st.columns([1, 2])
with facts:
    st.markdown(f"**Dose:** {escape_markdown(exercise['dose_text'])}")
    st.markdown(f"**Kind:** {library_label(exercise['kind'])}  \n**Position:** {library_label(exercise['position'])}")
    st.markdown("**Targets:** " + ", ".join(library_label(t) for t in exercise["targets"]))
    if exercise["equipment"]:
        st.markdown("**Equipment:** " + ", ".join(escape_markdown(e.replace("_", " ")) for e in exercise["equipment"]))
    if exercise["audiences"]:
        st.markdown("**Suits:** " + ", ".join(library_label(a) for a in exercise["audiences"]))
    if exercise["cautions"]:
        st.warning("**Cautions:** " + ", ".join(library_label(c) for c in exercise["cautions"]))
with body:
    st.subheader("Steps")
    st.markdown("\n".join(f"{i}. {escape_markdown(step)}" for i, step in enumerate(exercise["steps"], 1)))
    if exercise["cues"]:
        st.subheader("Cues")
        st.markdown("\n".join(f"- {escape_markdown(cue)}" for cue in exercise["cues"]))
    if exercise["mistakes"]:
        st.subheader("Common mistakes")
        st.markdown("\n".join(f"- {escape_markdown(m)}" for m in exercise["mistakes"]))
st.caption("Source: " + "; ".join(
    f"[{escape_markdown(s['title'])}]({s['url']})" if s["url"] and str(s["url"]).startswith(("https://", "http://"))
    else f"“{escape_markdown(s['title'])}”" for s in exercise["sources"]
) + " — written in our own words.")
