"""Child process of the merge kill tests (run as a script, not collected by pytest).

It imports the merge once, then for every ``go <round> <target> <source>…`` line on stdin
forks a merger, prints ``pid <pid>`` at once and, when the merger ends, ``reaped <round>
<status>``. The parent SIGKILLs the merger at a random moment after the ``pid`` line; forking
keeps a round far below a fresh interpreter's start-up.
"""

from __future__ import annotations

import os
import sys

from collarreader.db.merge import merge_databases


def _say(line: str) -> None:
    # One write(2) per line: nothing buffered in the process when it is killed.
    os.write(1, (line + "\n").encode())


def main() -> None:
    """Serve ``go`` lines from the parent until stdin closes."""
    _say("zygote")
    for line in sys.stdin:
        _, round_text, target, *sources = line.split()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                merge_databases(target, sources)
                code = 0
            finally:
                os._exit(code)
        _say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"reaped {round_text} {status}")


if __name__ == "__main__":
    main()
