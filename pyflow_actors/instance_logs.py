"""What a workflow prints: captured, prefixed, kept per instance, read back.

The instance actor binds an instance (:func:`instance_scope`) around its run;
the replay engine names the step around each attempt (:func:`step_scope`).
While an instance is bound, every line its code writes with ``print()`` (to
``sys.stdout``/``sys.stderr``) or through ``logging`` is

* kept in the instance's log, ``<storage>/logs/<workflow>/<id>.log``: JSON
  lines, bounded in size and rotated by the standard library's
  :class:`~logging.handlers.RotatingFileHandler` (one backup), removed with
  the instance (:func:`remove`);
* mirrored, prefixed ``<workflow>/<id> [<step>]``, to the process's own
  stream and to ``<storage>/logs/console.log``, which ``pyflow dev`` follows
  (:class:`ConsoleFollower`) so that the lines appear in its terminal one by
  one: Ray's log forwarding (which prefixes ``(pid=...)`` and merges repeated
  lines) is not in the way.

Lines written outside an instance go where they always went. Readers
(:func:`read`) page with a cursor: every line carries a number ``n``,
increasing per instance, and ``after=n`` returns only the lines that follow.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.handlers
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the models are imported where used: not on an actor's start path
    from .models import InstanceLogs, LogLine, LogStream

_log = logging.getLogger("pyflow.logs")

LOG_FOLDER = "logs"
CONSOLE_FILE = "console.log"
# One instance's log: this much in the live file plus one rotated backup.
MAX_LOG_BYTES = 1 << 20
LOG_BACKUPS = 1
# The console mirror is cut back to nothing past this size (pyflow dev follows it live).
MAX_CONSOLE_BYTES = 8 << 20
MAX_LINE_CHARS = 16_384
RUN_STEP = "run"  # the step label of lines written by run() outside any step

_instance: ContextVar[_InstanceSink | None] = ContextVar("pyflow_instance_log", default=None)
_step: ContextVar[str | None] = ContextVar("pyflow_step_name", default=None)


def log_path(storage: str | os.PathLike[str], workflow: str, instance_id: str) -> Path:
    """Where an instance's log lives: ``<storage>/logs/<workflow>/<id>.log``."""
    return Path(storage) / LOG_FOLDER / workflow / f"{instance_id}.log"


def console_path(storage: str | os.PathLike[str]) -> Path:
    """The engine-wide console mirror that ``pyflow dev`` follows."""
    return Path(storage) / LOG_FOLDER / CONSOLE_FILE


def prefix(workflow: str, instance_id: str, step: str | None) -> str:
    """``hello/42 [fetch user]``: the prefix of a mirrored line."""
    return f"{workflow}/{instance_id} [{step or RUN_STEP}]"


# ---------------------------------------------------------------------------
# writing


@dataclass
class _InstanceSink:
    """One bound instance: its rotating log file and the console mirror."""

    storage: Path
    workflow: str
    instance_id: str
    echo: TextIO | None
    next_n: int = 1
    pending: dict[tuple[LogStream, str | None], str] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    handler: logging.handlers.RotatingFileHandler | None = None

    def open(self) -> None:
        """Bind the instance's log file. A log is never worth a run: when the storage
        refuses it (read-only, full: a chaos soak errored an instance so), lines
        still reach the console and the run goes on; the next run opens it again."""
        path = log_path(self.storage, self.workflow, self.instance_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _end_torn_line(path)
            self.next_n = _last_number(path) + 1
            self.handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True
            )  # delay: an instance that prints nothing gets no file
        except OSError as exc:
            _log.warning("instance log %s cannot be written (%s): console only", path, exc)
            self.handler = None
            return
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def close(self) -> None:
        with self.lock:
            for (stream, step), text in list(self.pending.items()):
                self._line(stream, step, None, text)
            self.pending.clear()
            if self.handler is not None:
                self.handler.close()
                self.handler = None

    def write(self, stream: LogStream, step: str | None, text: str) -> None:
        """Text as a stream writes it: whole lines are kept, the rest waits for its end."""
        with self.lock:
            key = (stream, step)
            text = self.pending.pop(key, "") + text
            *lines, rest = text.split("\n")
            for line in lines:
                self._line(stream, step, None, line)
            if len(rest) >= MAX_LINE_CHARS:
                self._line(stream, step, None, rest)
            elif rest:
                self.pending[key] = rest

    def record(self, step: str | None, level: str, message: str) -> None:
        """A ``logging`` record: one entry, even if its message spans lines."""
        with self.lock:
            self._line("log", step, level, message)

    def _line(self, stream: LogStream, step: str | None, level: str | None, message: str) -> None:
        from .models import LogLine

        line = LogLine(
            n=self.next_n,
            time=time.time(),
            step=step,
            stream=stream,
            level=level,
            message=message[:MAX_LINE_CHARS],
        )
        self.next_n += 1
        if self.handler is not None:
            self.handler.emit(
                logging.makeLogRecord({"msg": line.model_dump_json(), "levelno": logging.INFO})
            )
        shown = f"{prefix(self.workflow, self.instance_id, step)} {_shown(line)}\n"
        if self.echo is not None:
            with contextlib.suppress(Exception):
                self.echo.write(shown)
                self.echo.flush()
        _append_console(self.storage, shown)


def _shown(line: LogLine) -> str:
    if line.level:
        return f"{line.level} {line.message}"
    return line.message


def _append_console(storage: Path, text: str) -> None:
    """One ``O_APPEND`` write per line: lines of concurrent instances never interleave."""
    path = console_path(storage)
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8", "replace"))
            if os.fstat(fd).st_size > MAX_CONSOLE_BYTES:
                os.ftruncate(fd, 0)  # the follower starts again from the top
        finally:
            os.close(fd)


def _end_torn_line(path: Path) -> None:
    """End a line a crash left unfinished, so that the next line stays whole."""
    try:
        with path.open("rb+") as f:
            size = os.fstat(f.fileno()).st_size
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    f.write(b"\n")
    except FileNotFoundError:
        pass


def _last_number(path: Path) -> int:
    """The number of the last line already in an instance's log (0 if none)."""
    for candidate in (path, path.with_name(path.name + ".1")):
        for entry in reversed(_entries(candidate, tail_bytes=2 * MAX_LINE_CHARS + 4096)):
            return int(entry["n"])
    return 0


class _CapturingStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: bound lines go to the instance."""

    def __init__(self, original: TextIO, name: LogStream) -> None:
        self.original = original
        self.stream: LogStream = name

    def write(self, text: str) -> int:
        sink = _instance.get()
        if sink is None:
            return self.original.write(text)
        sink.write(self.stream, _step.get(), text)
        return len(text)

    def flush(self) -> None:
        self.original.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _InstanceLogHandler(logging.Handler):
    """Root logging handler: records made while an instance is bound go to it."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _instance.get()
        if sink is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            sink.record(_step.get(), record.levelname, f"{record.name}: {message}")
        except Exception:  # noqa: BLE001 - logging must never fail the workflow
            self.handleError(record)


_installed: dict[str, Any] = {}


def install(level: int = logging.INFO) -> None:
    """Capture ``print()`` and ``logging`` in this process (idempotent).

    Called once by the instance actor when it starts. The root logger is set
    to ``level`` if it is still at Python's default (WARNING), so that
    ``logging.info`` in a step is seen, as it is in a script.
    """
    if _installed:
        return
    _installed["stdout"], _installed["stderr"] = sys.stdout, sys.stderr
    sys.stdout = _CapturingStream(sys.stdout, "stdout")
    sys.stderr = _CapturingStream(sys.stderr, "stderr")
    handler = _InstanceLogHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    _installed["handler"] = handler
    if root.level == logging.WARNING:
        _installed["level"] = root.level
        root.setLevel(level)


def uninstall() -> None:
    """Undo :func:`install` (tests)."""
    if not _installed:
        return
    sys.stdout, sys.stderr = _installed.pop("stdout"), _installed.pop("stderr")
    root = logging.getLogger()
    root.removeHandler(_installed.pop("handler"))
    if "level" in _installed:
        root.setLevel(_installed.pop("level"))


@contextlib.contextmanager
def instance_scope(
    storage: str | os.PathLike[str], workflow: str, instance_id: str
) -> Iterator[None]:
    """Bind an instance: what runs inside (and the tasks it starts) logs to it."""
    echo = _installed.get("stdout")
    sink = _InstanceSink(Path(storage), workflow, instance_id, echo)
    sink.open()
    token = _instance.set(sink)
    try:
        yield
    finally:
        _instance.reset(token)
        sink.close()


@contextlib.contextmanager
def step_scope(name: str) -> Iterator[None]:
    """Name the step whose attempt runs inside (the replay engine calls this)."""
    token = _step.set(name)
    try:
        yield
    finally:
        _step.reset(token)


def current_step() -> str | None:
    """The step running in this context, if any."""
    return _step.get()


def warn_once(step: str, message: str) -> None:
    """Log a warning for ``step`` once per bound instance (no-op when none is bound)."""
    sink = _instance.get()
    if sink is None:
        return
    with sink.lock:
        if step in sink.warned:
            return
        sink.warned.add(step)
        sink._line("log", step, "WARNING", f"pyflow: {message}")


# ---------------------------------------------------------------------------
# reading and removing


def read(
    storage: str | os.PathLike[str],
    workflow: str,
    instance_id: str,
    *,
    after: int = 0,
    limit: int = 1000,
) -> InstanceLogs:
    """The instance's log lines numbered above ``after``: the last ``limit`` of them.

    ``next_after`` is the cursor for the next call (the last line's number);
    ``truncated`` says that older lines matching ``after`` were left out.
    """
    from .models import InstanceLogs, LogLine

    path = log_path(storage, workflow, instance_id)
    entries = [
        entry
        for file in (path.with_name(path.name + ".1"), path)
        for entry in _entries(file)
        if entry["n"] > after
    ]
    kept = entries[-limit:] if limit > 0 else []
    return InstanceLogs(
        lines=[LogLine.model_validate(entry) for entry in kept],
        next_after=int(entries[-1]["n"]) if entries else after,
        truncated=len(kept) < len(entries),
    )


def remove(storage: str | os.PathLike[str], workflow: str, instance_id: str) -> None:
    """Remove an instance's log and its rotated backups (purge, delete)."""
    path = log_path(storage, workflow, instance_id)
    for file in path.parent.glob(path.name + "*"):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def remove_workflow(storage: str | os.PathLike[str], workflow: str) -> None:
    """Remove the logs of every instance of a workflow (workflow delete)."""
    shutil.rmtree(Path(storage) / LOG_FOLDER / workflow, ignore_errors=True)


def _entries(file: Path, *, tail_bytes: int | None = None) -> list[dict[str, Any]]:
    """The JSON lines of a log file (only its last ``tail_bytes`` if given).

    Decoded with :mod:`json` only: a reader filters thousands of lines per call
    and validates just the ones it returns. A torn or foreign line is skipped.
    """
    try:
        with file.open("rb") as f:
            if tail_bytes is not None:
                f.seek(max(0, os.fstat(f.fileno()).st_size - tail_bytes))
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for raw in data.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("n"), int):
            out.append(entry)
    return out


def format_line(line: LogLine) -> str:
    """A line as the CLI shows it: ``12:00:01 [step] message``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
    return f"{stamp} [{line.step or RUN_STEP}] {_shown(line)}"


# ---------------------------------------------------------------------------
# the console mirror, followed by pyflow dev


class ConsoleFollower:
    """Copies new console lines to ``out`` from a thread (``start``/``stop``).

    It starts at the end of the file (lines from before this engine are in the
    instance logs) and starts again from the top when a writer cut the file back.
    """

    def __init__(
        self, storage: str | os.PathLike[str], out: TextIO, *, interval: float = 0.2
    ) -> None:
        self.path = console_path(storage)
        self.out = out
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self._offset = self.path.stat().st_size
        self._thread = threading.Thread(target=self._run, name="pyflow-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Copy what was appended since the last poll (whole lines only)."""
        try:
            with self.path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._offset:
                    self._offset = 0
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        if end:
            self._offset += end
            with contextlib.suppress(Exception):
                self.out.write(data[:end].decode("utf-8", "replace"))
                self.out.flush()
