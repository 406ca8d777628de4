"""Data: bring session logs in from real exports, fix what was rejected, undo an import.

Thin on purpose: reading files, mapping, checking, de-duplicating, quarantining and undoing all
live in core.sessions.imports and core.sessions.checks (the CLI uses the same functions).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import streamlit as st

from core.db.store import WriteConflict
from core.sessions import imports
from core.sessions.red_flags import BY_TAG, parse_tags, tags_label
from core.sessions.checks import (readable_reason, DATE_ORDER_LABELS, DATE_ORDERS, FIELD_HELP, FIELD_LABELS, FIELDS, REQUIRED_FIELDS,
                                  DateOrderNeeded)
from pages.common import can_write, current_actor, escape_markdown, get_store, show_table

store = get_store()
writer = can_write()
NOT_IN_FILE = "— not in the file —"
DUPLICATE_REASON = "Already there: the same session as an earlier row of this file or a stored session."
FIELD_HEADINGS = {f: st.column_config.TextColumn(FIELD_LABELS[f], help=FIELD_HELP[f]) for f in FIELDS}
FILE_KEY = "data_file"          # session_state: (upload file_id, LogFile) of the file on screen
RESULT_KEY = "data_result"      # session_state: the last preview or import, for this file
FLASH_KEY = "data_flash"
UNREADABLE = ("This file could not be read: it may be damaged, or not a CSV or XLSX export. Nothing was saved. "
              "Open it in a spreadsheet program and save it as CSV, then try again.")
log_errors = logging.getLogger(__name__)

st.title("Session logs in")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)


def _write(action, message) -> None:
    """Run a core write: on success say what it did (``message(result)``) after a rerun, so every
    table shows the change; on a refusal (bad input, role) show why — nothing was changed."""
    try:
        result = action()
    except (ValueError, PermissionError) as exc:
        st.error(escape_markdown(exc))
        return
    st.session_state[FLASH_KEY] = message(result)
    st.rerun()


def _log_file(upload) -> imports.LogFile | None:
    """The uploaded file, read once per upload."""
    held = st.session_state.get(FILE_KEY)
    if held and held[0] == upload.file_id:
        return held[1]
    st.session_state.pop(FILE_KEY, None)
    st.session_state.pop(RESULT_KEY, None)
    if upload.size > imports.LIMITS.file_bytes:      # before the upload's bytes are even copied
        st.error(f"This file cannot be imported: it is larger than {imports.LIMITS.file_bytes // 2 ** 20} MB. "
                 "Split it and import the parts. Nothing was saved.")
        return None
    try:
        log = imports.read_log_file(upload.getvalue(), upload.name)
    except imports.ImportFileError as exc:
        st.error(f"This file cannot be imported: {exc}. Nothing was saved.")
        return None
    except Exception:      # a file no check foresaw: the reason goes to the server's log, never to the page
        log_errors.exception("reading an uploaded session-log file failed")
        st.error(UNREADABLE)
        return None
    st.session_state[FILE_KEY] = (upload.file_id, log)
    return log


def _mapping_widgets(log: imports.LogFile, source: str, saved: imports.SavedMapping | None) -> dict[str, str]:
    """One picker per field, pre-set from the saved mapping for this source, else the guess."""
    start = imports.build_mapping(log.headers, saved.mapping if saved else None)
    options = [NOT_IN_FILE, *log.headers]
    mapping = {}
    columns = st.columns(3)
    for i, field in enumerate(FIELDS):
        label = FIELD_LABELS[field] + (" *" if field in REQUIRED_FIELDS else "")
        chosen = columns[i % 3].selectbox(
            label, options, index=options.index(start[field]) if field in start else 0,
            key=f"data_map_{field}_{log.sha256[:12]}_{source}", help=FIELD_HELP[field])
        if chosen != NOT_IN_FILE:
            mapping[field] = chosen
    return mapping


def _show_result(result: imports.ImportResult) -> None:
    done = "Preview — nothing saved yet" if result.dry_run else f"Imported as batch {result.batch_id}"
    st.markdown(f"**{done}** · {escape_markdown(result.file_name)} · source “{escape_markdown(result.source)}”"
                + (f" · dates read {DATE_ORDER_LABELS[result.date_order]}" if result.date_order else ""))
    cols = st.columns(4)
    for col, label, value in zip(cols, ("Rows read", "Accepted", "Rejected", "Duplicates"),
                                 (result.read, result.accepted, result.rejected, result.duplicates)):
        col.metric(label, f"{value:,}")
    st.caption(f"{result.read:,} read = {result.accepted:,} accepted + {result.rejected:,} rejected + "
               f"{result.duplicates:,} duplicates: nothing lost, nothing doubled.")
    notes = []
    if result.new_clients:
        notes.append(f"{result.new_clients} new client(s) {'would be' if result.dry_run else 'were'} created")
    if result.before_first_assignment:
        notes.append(f"{result.before_first_assignment} session(s) before the client's first program (kept, marked)")
    if result.red_flagged:
        notes.append(f"{result.red_flagged} session(s) whose notes mention warning signs")
    if notes:
        st.info(" · ".join(notes))
    if result.rejected:
        st.warning(f"{result.rejected} row(s) rejected" + ("" if result.dry_run else
                   ": they wait in the Quarantine tab to be fixed and re-submitted, or discarded."))
    if result.preview is not None and not result.preview.empty:
        with st.expander("Rows as they will be stored (first 200)", expanded=result.dry_run):
            preview = result.preview.copy()
            # A duplicate's own reason, not the reasons of the row it repeats.
            preview.loc[preview["status"] == "duplicate", "reasons"] = DUPLICATE_REASON
            show_table(preview, key="data_preview_table", column_config={
                **FIELD_HEADINGS, "row": st.column_config.NumberColumn("Row", pinned=True, width="small"),
                "status": st.column_config.TextColumn("Status", pinned=True, width="small"),
                "reasons": st.column_config.TextColumn("Why", width="large"), "warning_signs": "Warning signs"})


def _run_import(log: imports.LogFile, options: imports.ImportOptions) -> None:
    """Preview or import with a progress bar; a date-order question or file problem is shown, not raised."""
    label = "Checking every row…" if options.dry_run else "Importing…"
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        try:
            result = imports.import_log_file(store, log, options, progress=lambda f, m: bar.progress(f, text=m))
        except DateOrderNeeded as exc:
            st.session_state["data_order_examples"] = exc.examples
            st.rerun()  # ask the question at the date-order choice above
        except (imports.ImportFileError, PermissionError) as exc:
            status.update(label="Nothing was saved", state="error")
            st.error(escape_markdown(exc))
            return
        except WriteConflict:  # a lost race or a full disk: the app's page for a failed write says which
            status.update(label="Nothing was saved", state="error")
            raise
        except Exception:  # as for reading: the reason goes to the server's log
            log_errors.exception("checking or importing an uploaded session-log file failed")
            status.update(label="Nothing was saved", state="error")
            st.error(UNREADABLE)
            return
        status.update(label="Preview ready" if options.dry_run else f"Imported as batch {result.batch_id}",
                      state="complete")
    st.session_state[RESULT_KEY] = (log.sha256, result)


def import_tab() -> None:
    if not writer:
        st.info("Importing session logs is for owners and therapists: a file's rows name clients, so only "
                "those who may import can upload one or preview it. The other tabs show what was imported.")
        return
    upload = st.file_uploader("Session-log export (CSV — comma, semicolon or tab — or XLSX)",
                              type=["csv", "txt", "tsv", "xlsx"], key="data_upload")
    if upload is None:
        st.session_state.pop(FILE_KEY, None)
        st.caption("Download the template in the Template tab, or upload your form, spreadsheet or booking-system "
                   "export as it is: the columns are matched below and you can correct the match.")
        return
    log = _log_file(upload)
    if log is None:
        return
    st.caption(f"Read as {log.describe()}. First rows:")
    for note in log.notes:
        st.warning(escape_markdown(note))
    show_table(log.sample_frame(), key="data_sample")

    names = imports.mapping_names(store)
    source = st.text_input("Source (where the file comes from)", value=names[0] if len(names) == 1 else
                           imports.DEFAULT_SOURCE, key="data_source",
                           help="Session ids are unique per source, and each source keeps its own saved "
                                "mapping" + (f". Saved: {', '.join(names)}." if names else ".")).strip()
    saved = imports.get_mapping(store, source) if source else None
    st.markdown("**Columns** — which column holds each field (* required)"
                + (f" · using the saved mapping `{escape_markdown(source)}`" if saved else " · guessed from the headers"))
    mapping = _mapping_widgets(log, source, saved)

    examples = st.session_state.get("data_order_examples")
    orders = ["", *DATE_ORDERS]
    default_order = saved.date_order if saved and saved.date_order else ""
    if examples:
        st.warning(f"Dates such as {', '.join(map(str, examples))} could be day-first or month-first. "
                   "Which does this file use?")
    order = st.radio("Date order", orders, index=orders.index(default_order), horizontal=True, key="data_order",
                     format_func=lambda o: DATE_ORDER_LABELS.get(o, "Decide from the dates"),
                     help="Used only for dates like 04/03/2024; dates such as 2024-03-04 or 25/03/2024 are "
                          "clear either way.") or None
    create = st.checkbox("Create missing clients", key="data_create_clients", disabled=not writer,
                         help="A row naming a client we do not know is rejected unless this is ticked; then "
                              "a client is created with a new code and the name from the file.")
    options = imports.ImportOptions(source=source or imports.DEFAULT_SOURCE, mapping=mapping, date_order=order,
                               create_clients=create, actor=current_actor())

    preview, go, save = st.columns([1, 1, 2])
    if preview.button("Preview", key="data_preview", icon=":material/preview:"):
        st.session_state.pop("data_order_examples", None)
        _run_import(log, replace(options, dry_run=True))
    if writer and go.button("Import", key="data_import", type="primary", icon=":material/upload:"):
        st.session_state.pop("data_order_examples", None)
        _run_import(log, options)
    if writer:
        with save.popover("Save this mapping", icon=":material/save:"):
            name = st.text_input("Name (usually the source)", value=source, key=f"data_mapping_name_{source}")
            if st.button("Save mapping", key="data_mapping_save"):
                try:
                    imports.save_mapping(store, name, mapping, order, current_actor())
                    st.success(f"Mapping saved as “{escape_markdown(name)}”: the next file from this source starts"
                               " from it.")
                except (ValueError, PermissionError) as exc:
                    st.error(escape_markdown(exc))

    held = st.session_state.get(RESULT_KEY)
    if held and held[0] == log.sha256:
        _show_result(held[1])


def quarantine_tab() -> None:
    rows = imports.list_quarantine(store)
    if rows.empty:
        st.success("No rejected rows are waiting.")
        return
    batches = sorted(rows["batch_id"].unique().tolist(), reverse=True)
    chosen = st.selectbox("Batch", ["all", *batches], key="quarantine_batch",
                          format_func=lambda b: "All batches" if b == "all" else f"Batch {b}")
    if chosen != "all":
        rows = rows[rows["batch_id"] == chosen].reset_index(drop=True)
    flagged = rows[rows["red_flags"].notna()]
    if not flagged.empty:
        signs = sorted({BY_TAG[t].label for tags in flagged["red_flags"] for t in parse_tags(tags) if t in BY_TAG})
        st.error(f"{len(flagged)} rejected row(s) mention warning signs ({', '.join(signs)}): read them now, "
                 "even before fixing them.", icon=":material/warning:")
    st.caption(f"{len(rows)} row(s) waiting. Correct values in the table, tick “pick”, then re-submit — or "
               "discard picked rows with a reason. The file's original values are kept either way.")
    shown = rows[["id", "batch_id", "row_number", "reasons", *FIELDS, "red_flags"]].astype(
        {f: "object" for f in FIELDS}).assign(pick=False)
    shown = shown.assign(reasons=shown["reasons"].map(lambda r: readable_reason(r) if isinstance(r, str) else r),
                         red_flags=shown["red_flags"].map(tags_label))
    edited = st.data_editor(
        shown, hide_index=True, width="stretch", key="quarantine_editor", disabled=not writer or [
            "id", "batch_id", "row_number", "reasons", "red_flags"],
        column_order=["pick", "row_number", "reasons", *FIELDS, "red_flags", "batch_id", "id"],
        column_config={"pick": st.column_config.CheckboxColumn("Pick", help="Re-submit or discard this row",
                                                               pinned=True),
                       "row_number": st.column_config.NumberColumn("Row", pinned=True, width="small"),
                       "batch_id": "Batch", "id": "Id",
                       "reasons": st.column_config.TextColumn("Why it was rejected", width="large"),
                       "red_flags": "Warning signs", **FIELD_HEADINGS}, placeholder="—")
    if not writer:
        return
    changed = (edited[list(FIELDS)].fillna("").astype(str) != shown[list(FIELDS)].fillna("").astype(str)).any(axis=1)
    picked = edited[edited["pick"] | changed]
    resubmit, discard = st.columns(2)
    if resubmit.button(f"Re-submit {len(picked)} picked or corrected row(s)", key="quarantine_resubmit",
                       disabled=picked.empty, type="primary"):
        records = picked[["id", *FIELDS]].astype(object).where(picked[["id", *FIELDS]].notna(), None)
        _write(lambda: imports.resubmit_rows(store, records.to_dict("records"), current_actor()),
               lambda done: f"Re-submitted: {done.accepted} stored, {done.still_rejected} still rejected (with their "
                            f"new reasons), {done.duplicates} already logged.")
    with discard.popover(f"Discard {int(edited['pick'].sum())} picked row(s)", icon=":material/delete:"):
        reason = st.text_input("Why are they discarded?", key="quarantine_discard_reason")
        if st.button("Discard", key="quarantine_discard"):
            _write(lambda: imports.discard_rows(store, edited.loc[edited["pick"], "id"].astype(int).tolist(), reason,
                                           current_actor()),
                   lambda count: f"Discarded {count} row(s): “{escape_markdown(reason.strip())}”.")
    with st.expander("A row exactly as the file held it"):
        row_id = st.selectbox("Row", rows["id"].tolist(), key="quarantine_original",
                              format_func=lambda i: f"batch {rows.loc[rows['id'] == i, 'batch_id'].iloc[0]}, "
                                                    f"row {rows.loc[rows['id'] == i, 'row_number'].iloc[0]}")
        st.json(imports.quarantine_values(store, int(row_id)))


def batches_tab() -> None:
    batches = imports.list_batches(store)
    if batches.empty:
        st.caption("No imports yet.")
        return
    show_table(batches, key="batches_table",
                 column_config={"id": "Batch", "rows_read": "Read", "still_open": "Still in quarantine",
                                "fixed": "Fixed later", "discarded": "Discarded", "logs_now": "Logs stored now",
                                "imported_at": st.column_config.DatetimeColumn("Imported (UTC)"),
                                "undone_at": st.column_config.DatetimeColumn("Undone (UTC)")})
    live = batches[batches["undone_at"].isna()]
    if not writer or live.empty:
        return
    st.markdown("**Undo a batch** — removes every session it stored (also rows fixed later) and closes its "
                "quarantined rows. Clients it created stay.")
    left, right = st.columns([2, 1])
    batch = left.selectbox("Batch to undo", live["id"].tolist(), key="undo_batch",
                           format_func=lambda b: f"Batch {b}: "
                           + str(live.loc[live["id"] == b, "file_name"].iloc[0] or live.loc[live["id"] == b, "source"].iloc[0]))
    sure = right.checkbox("Yes, remove its sessions", key="undo_confirm")
    if st.button("Undo batch", key="undo_go", disabled=not sure, icon=":material/undo:"):
        _write(lambda: imports.undo_batch(store, int(batch), current_actor()),
               lambda done: f"Batch {done.batch_id} undone: {done.removed_logs} session log(s) removed, "
                            f"{done.closed_rows} quarantined row(s) closed.")


def template_tab() -> None:
    st.download_button("Download the template CSV", data=imports.template_csv(), file_name="session-log-template.csv",
                       mime="text/csv", key="template_download", icon=":material/download:")
    st.markdown("One row per session. Only the client and the session date are required. The template's"
                " columns, as its first line names them:")
    st.markdown("\n".join(f"- `{f}` — {FIELD_LABELS[f]}: {FIELD_HELP[f]}" for f in FIELDS))


# Only the open tab runs (the tab stays open across reruns, e.g. after a re-submit).
SECTIONS = {"Import a file": import_tab, "Quarantine": quarantine_tab, "Import batches": batches_tab,
            "Template": template_tab}
for tab, render in zip(st.tabs(list(SECTIONS), key="data_tab", on_change="rerun"), SECTIONS.values()):
    if tab.open:
        with tab:
            render()
