"""Where one page's time goes: cProfile of AppTest runs of a page, signed in as the demo owner.

Usage: python tests/load/profile_page.py [--page pages/clients.py] [--query client=C00001] [--db PATH]
(default: a fresh demo practice). Prints the wall time of a first (cold) and a second (warm) run
and the functions with the most cumulative time in the warm run. Not a test: it measures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@contextmanager
def _profiled_script_thread(profile: cProfile.Profile) -> Iterator[None]:
    """Profile the script runs (AppTest runs the page in its own thread, which a profile enabled
    here would not see)."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    run_script = ScriptRunner._run_script

    def profiled(self: ScriptRunner, *args: object, **kwargs: object) -> object:
        profile.enable()
        try:
            return run_script(self, *args, **kwargs)
        finally:
            profile.disable()

    ScriptRunner._run_script = profiled
    try:
        yield
    finally:
        ScriptRunner._run_script = run_script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page", default="pages/clients.py")
    parser.add_argument("--query", default="client=C00001", help="NAME=VALUE URL parameters, & between them")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rd-profile-") as tmp:
        from tests.load.load import practice_or_demo

        os.environ["ROUTINE_DESK_DB"] = str(practice_or_demo(args.db, tmp))
        from streamlit.testing.v1 import AppTest

        from core.access.auth import DEMO_OWNER, get_user, start_session
        from pages.common import SESSION_KEY, get_store

        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
        at.session_state[SESSION_KEY] = start_session(get_user(get_store(), DEMO_OWNER))
        for pair in filter(None, args.query.split("&")):
            name, _, value = pair.partition("=")
            at.query_params[name] = value
        at.switch_page(args.page)
        started = time.perf_counter()
        at.run()
        cold = time.perf_counter() - started
        profile = cProfile.Profile()
        started = time.perf_counter()
        with _profiled_script_thread(profile):
            at.run()
        warm = time.perf_counter() - started
        if at.exception:
            print(at.exception)
            return 1
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(f"{args.page}?{args.query}: first run {cold:.2f} s, second run {warm:.2f} s (profiled)")
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
