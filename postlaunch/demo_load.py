"""Loading the DEMO=1 month for a person watching: a progress bar per kind of data and one summary
line per kind, instead of the app's JSON log lines.

The demo loaders call the same services the API calls, and those log each write (Powertools Logger,
JSON on stdout) and emit metrics (Powertools Metrics, EMF JSON on stdout). That is right on Lambda
and noise on a newcomer's terminal. While loading, unless asked to be verbose (`--verbose`, or
`LOG_LEVEL=DEBUG` / `POWERTOOLS_LOG_LEVEL=DEBUG`, which the Powertools Logger honours), the app's
logger is raised to WARNING and whatever the app prints to stdout (the EMF blobs) goes to the
`plm.demo` Python logger at DEBUG. Verbose loads show the logs as before, without bars (a bar redrawn
under a stream of log lines helps no one).

When stdout is not a terminal (CI, a pipe) no bars are drawn: the summary lines come as plain lines.

`python -m postlaunch.demo_load [--verbose]` loads the month into the local stack the environment
points at (AWS_ENDPOINT_URL and the table variables, as `make run` prints them); `make run` with
DEMO=1 calls `load_with_progress` itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

log = logging.getLogger("plm.demo")


class Tracker(Protocol):
    """What a demo loader reports progress to: the part of rich.progress.Progress it uses."""

    def add_task(self, description: str, *, total: float | None = ...) -> Any: ...

    def advance(self, task_id: Any, advance: float = 1) -> None: ...


class NoProgress:
    """A Tracker that shows nothing (loaders called from tests and scripts)."""

    def add_task(self, description: str, *, total: float | None = None) -> int:
        return 0

    def advance(self, task_id: Any, advance: float = 1) -> None:
        return None


def verbose_requested(flag: bool = False) -> bool:
    """--verbose, or a DEBUG level in the variables the Powertools Logger reads."""
    levels = (os.environ.get(name, "").strip().upper() for name in ("POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"))
    return flag or "DEBUG" in levels


class _LinesToLog(io.TextIOBase):
    """A stdout stand-in that hands each complete line to a logger at DEBUG."""

    def __init__(self, target: logging.Logger):
        self._target = target
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._target.debug("%s", line)
        return len(text)

    def flush(self) -> None:
        if self._partial.strip():
            self._target.debug("%s", self._partial)
        self._partial = ""


@contextlib.contextmanager
def app_output_at_debug(verbose: bool) -> Iterator[None]:
    """The app's INFO logs and EMF metric blobs kept off stdout while the demo loads (see above).

    On leaving, the metrics still held in memory are flushed (into the same place), so the first
    scheduled job that flushes does not print the demo's leftovers later.
    """
    from chalicelib.observability import flush_metrics, logger

    if verbose:
        try:
            yield
        finally:
            _flush_quietly(flush_metrics)
        return
    level = logger.log_level
    sink = _LinesToLog(log)
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sink):
            try:
                yield
            finally:
                _flush_quietly(flush_metrics)
                sink.flush()
    finally:
        logger.setLevel(level)


def _flush_quietly(flush: Any) -> None:
    # Powertools warns when there is nothing to flush; after a load that is not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flush()


def load_with_progress(
    out: TextIO,
    *,
    now: datetime | None = None,
    verbose: bool = False,
    loader: Callable[..., Iterator[str]] | None = None,
) -> list[str]:
    """Run the demo load (postlaunch.demo.load_all, or `loader(now=, progress=)` yielding summary
    lines) with its bars on `out`; print and return the summary lines, one per kind of data."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from postlaunch import demo

    loader = loader or demo.load_all
    console = Console(file=out, highlight=False)
    progress = Progress(
        TextColumn("  {task.description:<17}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,  # the summary line replaces the bar
        # Our redirect (app_output_at_debug) must win over rich's: its proxy would print the app's
        # stdout above the bars.
        redirect_stdout=False,
        redirect_stderr=False,
        # Not a terminal: no live display at all (rich would still end it with a blank line).
        disable=verbose or not console.is_terminal,
    )
    lines: list[str] = []
    with app_output_at_debug(verbose), progress:
        for line in loader(now=now, progress=progress):
            lines.append(line)
            # The summary line stands for the finished bar from now on.
            for task in progress.tasks:
                if task.finished and task.visible:
                    progress.update(task.id, visible=False)
            # soft_wrap: one line per kind, whatever the terminal's (or a pipe's 80-column) width.
            console.print(f"  {line}", soft_wrap=True, markup=False)
    return lines


def main(argv: list[str] | None = None) -> None:
    """`python -m postlaunch.demo_load`: the DEMO month into the local stack the environment names."""
    parser = argparse.ArgumentParser(prog="python -m postlaunch.demo_load", description=main.__doc__)
    parser.add_argument("--verbose", action="store_true", help="show the app's logs instead of bars")
    args = parser.parse_args(argv)
    if not os.environ.get("AWS_ENDPOINT_URL"):
        # Demo data is made up: it must never land in a deployed stage's tables.
        parser.error("AWS_ENDPOINT_URL is not set: the demo loads into a local stack only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("botocore", "pynamodb", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from chalicelib.config import reset_settings

    reset_settings()
    load_with_progress(sys.stdout, now=datetime.now(UTC), verbose=verbose_requested(args.verbose))


if __name__ == "__main__":
    main()
