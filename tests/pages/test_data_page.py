"""Data page (AppTest): upload, the guessed mapping, preview, import, ambiguous dates, quarantine
fix and re-submit, discard, undo, template, and what a viewer may do."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.sessions.checks import FIELDS

from core import clock
from core.sessions import imports
from core.library.content import sync_library
from core.db.store import Store, utcnow
from pages.common import get_store

TODAY = clock.today()
DAY1, DAY2, DAY3 = (TODAY - timedelta(days=n) for n in (3, 2, 1))
FORM_EXPORT = (
    "Timestamp,Your name,Which routine did you do?,How many exercises did you complete?,Pain before (0-10)\n"
    f"{DAY1:%Y-%m-%d} 08:10,C00001,daily-psoas-routine,5,3\n"
    f"{DAY2:%Y-%m-%d} 08:15,Nobody Known,daily-psoas-routine,4,2\n"
    f"{DAY3:%Y-%m-%d} 08:20,C00001,daily-psoas-routine,6,felt dizzy\n"
).encode()


def prepare(db_path: Path) -> None:
    """Library and one client with the daily psoas routine (6 exercises) since a month ago."""
    now = utcnow()
    with Store(db_path) as store:
        sync_library(store)
        with store.transaction() as cur:
            cur.execute("INSERT INTO clients (code, display_name, created_at, updated_at) VALUES ('C00001', 'Ann Lee', ?, ?)",
                        [now, now])
            cur.execute("INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks,"
                        " sessions_per_week, status, assigned_at) VALUES (1, 'daily-psoas-routine', 1, ?, 8, 5, 'active', ?)",
                        [TODAY - timedelta(days=30), now])


def open_page(app_as, app_db: Path, role: str = "therapist") -> AppTest:
    at = app_as(role, "olga")
    prepare(app_db)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, content: bytes, name: str = "form.csv") -> AppTest:
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, key: str):
    return at.button(key=key)


def show_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["data_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def counts() -> tuple[int, int, int]:
    store = get_store()  # the app's own store: it holds the database file open
    return (store.scalar("SELECT count(*) FROM session_logs"), store.scalar("SELECT count(*) FROM quarantined_rows"),
            store.scalar("SELECT count(*) FROM import_batches"))


def test_upload_shows_the_guessed_mapping_and_a_preview_saves_nothing(app_as, app_db: Path) -> None:
    at = upload(open_page(app_as, app_db), FORM_EXPORT)
    picked = {field: next(s.value for s in at.selectbox if s.key and s.key.startswith(f"data_map_{field}_"))
              for field in FIELDS}
    labels = [s.label for s in at.selectbox if s.key and s.key.startswith("data_map_")]
    assert {"Client *", "Session date *", "Pain before"} <= set(labels)      # labels, not field codes
    assert picked["client"] == "Your name" and picked["session_date"] == "Timestamp"
    assert picked["routine"] == "Which routine did you do?"
    assert picked["exercises_done"] == "How many exercises did you complete?"
    assert picked["pain_before"] == "Pain before (0-10)" and picked["notes"] == "— not in the file —"
    button(at, "data_preview").click().run()
    assert not at.exception, at.exception
    assert metrics(at) == {"Rows read": "3", "Accepted": "1", "Rejected": "2", "Duplicates": "0"}
    assert counts() == (0, 0, 0)


def test_import_then_fix_the_rejected_row_and_resubmit(app_as, app_db: Path) -> None:
    at = upload(open_page(app_as, app_db), FORM_EXPORT)
    button(at, "data_import").click().run()
    assert not at.exception, at.exception
    assert metrics(at) == {"Rows read": "3", "Accepted": "1", "Rejected": "2", "Duplicates": "0"}
    assert counts() == (1, 2, 1)

    editor = show_tab(at, "Quarantine").data_editor(key="quarantine_editor")
    table = editor.value
    assert list(table["row_number"]) == [3, 4]
    assert table.loc[0, "reasons"] == "unknown client 'Nobody Known': no client has this code, email or name"
    assert table.loc[1, "reasons"] == "Pain before 'felt dizzy' is not a number"   # the field's label
    at.session_state["quarantine_editor"] = {"edited_rows": {0: {"client": "C00001"}},
                                             "added_rows": [], "deleted_rows": []}
    at.run()
    resubmit = button(at, "quarantine_resubmit")
    assert resubmit.label == "Re-submit 1 picked or corrected row(s)"
    resubmit.click().run()
    assert not at.exception, at.exception
    assert any("1 stored, 0 still rejected" in s.value for s in at.success)
    assert counts() == (2, 2, 1)
    assert list(at.data_editor(key="quarantine_editor").value["row_number"]) == [4]
    stored = get_store().rows("SELECT session_date, exercises_done, exercises_prescribed, batch_id FROM session_logs"
                              " ORDER BY session_date")
    assert stored == [(DAY1, 5, 6, 1), (DAY2, 4, 6, 1)]


def test_discard_needs_a_reason_and_undo_removes_the_batch(app_as, app_db: Path) -> None:
    at = upload(open_page(app_as, app_db), FORM_EXPORT)
    button(at, "data_import").click().run()
    show_tab(at, "Quarantine")
    at.session_state["quarantine_editor"] = {"edited_rows": {1: {"pick": True}}, "added_rows": [], "deleted_rows": []}
    at.run()
    button(at, "quarantine_discard").click().run()
    assert any("say why" in e.value for e in at.error)
    at.text_input(key="quarantine_discard_reason").input("a note, not a score: asked the client").run()
    button(at, "quarantine_discard").click().run()
    assert any("Discarded 1 row(s)" in s.value for s in at.success)
    assert get_store().rows("SELECT status, resolution_note, resolved_by FROM quarantined_rows ORDER BY id") == [
        ("open", None, None), ("discarded", "a note, not a score: asked the client", "olga")]

    show_tab(at, "Import batches")
    assert button(at, "undo_go").disabled
    at.checkbox(key="undo_confirm").check().run()
    button(at, "undo_go").click().run()
    assert not at.exception, at.exception
    assert any("Batch 1 undone: 1 session log(s) removed" in s.value for s in at.success)
    assert counts()[0] == 0
    batches = next(d.value for d in at.dataframe if "undone_by" in d.value.columns)
    assert batches["undone_by"].tolist() == ["olga"]


def test_ambiguous_dates_ask_which_order(app_as, app_db: Path) -> None:
    day = TODAY - timedelta(days=40)
    first = f"{min(day.day, 12):02d}/{min(day.month, 12):02d}/{day.year}"
    content = f"client,session_date,routine\nC00001,{first},daily-psoas-routine\n".encode()
    at = upload(open_page(app_as, app_db), content)
    button(at, "data_preview").click().run()
    assert any("could be day-first or month-first" in w.value for w in at.warning)
    at.radio(key="data_order").set_value("dmy").run()
    button(at, "data_preview").click().run()
    assert not at.exception, at.exception
    assert metrics(at)["Rows read"] == "1"
    assert any("dates read day-first" in m.value for m in at.markdown)


def test_saved_mapping_is_offered_for_the_source(app_as, app_db: Path) -> None:
    content = f"Who,When,What\nC00001,{DAY1:%Y-%m-%d},daily-psoas-routine\n".encode()
    at = upload(open_page(app_as, app_db), content)
    picked = {field: next(s for s in at.selectbox if s.key and s.key.startswith(f"data_map_{field}_"))
              for field in ("client", "session_date", "routine")}
    picked["client"].set_value("Who")
    picked["session_date"].set_value("When")
    picked["routine"].set_value("What")
    at.text_input(key="data_source").input("paper sheets").run()
    picked = {field: next(s for s in at.selectbox if s.key and s.key.startswith(f"data_map_{field}_"))
              for field in ("client", "session_date", "routine")}
    picked["client"].set_value("Who")
    picked["session_date"].set_value("When")
    picked["routine"].set_value("What").run()
    button(at, "data_mapping_save").click().run()
    assert get_store().rows("SELECT name, mapping_json FROM import_mappings") == [
        ("paper sheets", '{"client": "Who", "session_date": "When", "routine": "What"}')]
    # the next upload from that source starts from the saved mapping
    at.file_uploader(key="data_upload").set_value(("next.csv", content.replace(b"C00001,", b"c00001,"),
                                                   "text/csv")).run()
    picked = {field: next(s.value for s in at.selectbox if s.key and s.key.startswith(f"data_map_{field}_"))
              for field in FIELDS}
    labels = [s.label for s in at.selectbox if s.key and s.key.startswith("data_map_")]
    assert {"Client *", "Session date *", "Pain before"} <= set(labels)      # labels, not field codes
    assert (picked["client"], picked["session_date"], picked["routine"]) == ("Who", "When", "What")


def test_unreadable_file_is_refused_with_a_reason(app_as, app_db: Path) -> None:
    at = upload(open_page(app_as, app_db), b"client,session_date\n", name="empty.csv")
    assert any("header row but no rows" in e.value for e in at.error)
    assert counts() == (0, 0, 0)


def test_template_download_and_viewer_sees_no_writing_controls(app_as, app_db: Path) -> None:
    at = show_tab(open_page(app_as, app_db, role="viewer"), "Template")
    assert at.get("download_button")
    header = imports.template_csv().decode().splitlines()[0].split(",")
    assert header == list(FIELDS)          # every field the import reads, the block of a day plan too
    show_tab(at, "Import a file")      # a file's rows name clients: only those who may import upload or preview
    assert not at.get("file_uploader") and "owners and therapists" in at.info[0].value
    assert not {"data_preview", "data_import"} & {b.key for b in at.button}
    imports.import_file(get_store(), FORM_EXPORT, imports.ImportOptions(actor="cli"), name="form.csv")
    show_tab(at, "Import batches")
    assert at.dataframe and "undo_go" not in {b.key for b in at.button}
    show_tab(at, "Quarantine")
    assert "quarantine_resubmit" not in {b.key for b in at.button}


def hostile_workbooks() -> dict[str, bytes]:
    """A 5 KB workbook stating 16,384 columns, one unpacking to 3,000,000 rows, and a damaged one."""
    import io
    import re
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["client", "session_date"])
    book.active.append(["C00001", f"{DAY1:%Y-%m-%d}"])
    plain = io.BytesIO()
    book.save(plain)

    def changed(change) -> bytes:
        source, out = zipfile.ZipFile(io.BytesIO(plain.getvalue())), io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
            for part in source.infolist():
                data = source.read(part.filename)
                package.writestr(part.filename, change(data) if part.filename.endswith("sheet1.xml") else data)
        return out.getvalue()

    return {
        "wide.xlsx": changed(lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD2"', xml)),
        "bomb.xlsx": changed(lambda xml: xml.replace(b"</sheetData>", b"<row><c><v>1</v></c></row>" * 3_000_000
                                                     + b"</sheetData>")),
        "damaged.xlsx": changed(lambda xml: xml.replace(b'r="A2"', b'r="2A"')),
    }


def test_hostile_workbooks_are_refused_with_a_reason_and_no_internals(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db)
    for name, content in hostile_workbooks().items():
        upload(at, content, name=name)
        shown = " ".join(e.value for e in at.error)
        assert "This file cannot be imported" in shown and "Nothing was saved" in shown, (name, shown)
        assert not re.search(r"Traceback|File \"|/work/|site-packages|\.py\b", shown), (name, shown)
        assert not at.get("data_preview") and not {"data_preview", "data_import"} & {b.key for b in at.button}
    assert counts() == (0, 0, 0)


def test_a_stray_windows_byte_is_reported_with_its_line(app_as, app_db: Path) -> None:
    export = FORM_EXPORT.replace(b"Nobody Known", "Zoë Known".encode()).replace(b"felt dizzy", b"felt dizzy \xe0 la fin")
    at = upload(open_page(app_as, app_db), export)
    assert any("line 4 holds a character that is not UTF-8" in w.value for w in at.warning)
    assert "Zoë Known" in at.dataframe[0].value.iloc[:, 1].tolist()


def test_an_import_that_lost_a_race_to_other_servers_says_so(app_as, app_db: Path, monkeypatch) -> None:
    """Refused because other servers kept storing session logs (PostgreSQL): the page says nothing
    was saved and to try again, not that the file may be damaged."""
    from pages.common import WRITE_CONFLICT_TEXT
    from core.db.store import WriteConflict

    at = upload(open_page(app_as, app_db), FORM_EXPORT)
    monkeypatch.setattr(imports, "import_log_file",
                        lambda *a, **k: (_ for _ in ()).throw(WriteConflict("could not serialize access")))
    button(at, "data_import").click().run()
    assert not at.exception, at.exception
    shown = [e.value for e in at.error]
    assert WRITE_CONFLICT_TEXT in shown and not any("damaged" in text for text in shown)
    assert counts() == (0, 0, 0)
