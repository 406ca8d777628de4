"""Sign-in on a disk that refuses writes, for real: a child process whose file-size limit stops
DuckDB from growing the database or its log (what a full disk does), unlike test_auth.py's
monkeypatched commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, os, resource, signal, sys
from core.access import auth
from core.db.integrity import is_storage_failure
from core.db.store import DatabaseError, Store

path = sys.argv[1]
store = Store(path)
auth.create_first_owner(store, "ana", "a long enough password")
store.rows("CHECKPOINT")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))  # no file may grow
found = {}
try:
    with store.transaction() as cur:
        cur.execute("INSERT INTO audit_log (event_at, actor, action, detail) SELECT now()::TIMESTAMP, 'cli',"
                    " 'filler', repeat('z', 500) || i FROM range(200000) r(i)")
    found["write"] = "saved"
except DatabaseError as exc:
    found["write"] = "storage failure" if is_storage_failure(exc) else repr(exc)
try:
    auth.create_user(store, "cli", "ben", "therapist", "long-enough-pass")
    found["small_write"] = "saved"
except DatabaseError as exc:
    found["small_write"] = "storage failure" if is_storage_failure(exc) else repr(exc)
found["sign_in"] = auth.login(store, "ana", "a long enough password").outcome
found["wrong"] = [auth.login(store, "ana", f"guess {i}").outcome for i in range(5)]
found["right_while_locked"] = auth.login(store, "ana", "a long enough password").outcome
found["users"] = store.scalar("SELECT count(*) FROM users")
print(json.dumps(found))
'''


def test_a_disk_that_refuses_writes_still_lets_staff_sign_in_and_keeps_the_lock(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "full.duckdb")], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"write": "storage failure", "small_write": "storage failure", "sign_in": "ok",
                     "wrong": ["invalid"] * 4 + ["locked"], "right_while_locked": "locked", "users": 1}
