"""`python peak_rss.py REPORT COMMAND [ARG...]`: run COMMAND and write its peak resident set size
(KiB) to REPORT; exit with its exit code.

The measure must come from a small parent. Linux carries a process's high-water mark across
fork and exec, so a command started by the test process itself (hundreds of MiB after reading
an export) would report the test's memory instead of its own. This parent is a bare interpreter
of a few MiB, below any command worth measuring.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    report, command = sys.argv[1], sys.argv[2:]
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)  # exec failed
    _, status, usage = os.wait4(child, 0)
    with open(report, "w", encoding="ascii") as out:
        out.write(f"{usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
