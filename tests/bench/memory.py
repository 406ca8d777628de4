"""Peak memory of a process, as the bench scenarios report it (Linux).

VmHWM from /proc, not ru_maxrss: Linux carries ru_maxrss across exec, so a scenario run as a
subprocess would report its parent's peak.
"""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> int:
    """The process's resident-memory high-water mark, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def reset_peak_rss() -> None:
    """Start this process's high-water mark afresh, so what follows is measured on its own."""
    Path("/proc/self/clear_refs").write_text("5")
