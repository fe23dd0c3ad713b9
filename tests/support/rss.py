"""Peak resident memory of this process, measured so a parent's memory does not leak in.

`getrusage(RUSAGE_SELF).ru_maxrss` is no good in a child process: Linux carries the high-water
mark of the memory the process had before `exec` (a copy of its parent's) into it, so a child
of a 200 MB benchmark reports at least 200 MB. `VmHWM` in /proc/self/status belongs to the
address space `exec` created and counts only this program's own pages.
"""

from __future__ import annotations

import resource
from pathlib import Path


def own_peak_rss_bytes() -> int:
    """This process's peak RSS since it exec'd."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: best effort


def peak_rss_bytes() -> int:
    """The larger of this process's peak and that of the largest child it waited for (ffmpeg).

    A child's own figure is floored at this process's size when it was started (see above),
    which is at most this process's peak, so the larger of the two is still right."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return max(own_peak_rss_bytes(), children)
