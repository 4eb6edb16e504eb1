"""The process tree of a benchmarked command: its memory and its CPU, every descendant counted.

Memory is sampled from ``/proc``: each process's RSS (``status``) and PSS (``smaps_rollup``;
shared pages split between the processes that map them, so a forked worker is not counted
twice for what it shares with its forkserver), summed over the root and every process below
it at that moment.

CPU comes from ``getrusage(RUSAGE_CHILDREN)``, which counts every descendant that was waited
for, and only those. ``readingroom ingest`` leaves two processes to outlive it by design: the
multiprocessing forkserver (the parent of every helper and OCR worker, so the owner of their
CPU and of their tesseracts') and its resource tracker; they end once the command has exited,
and init reaped them, so their CPU was lost. Under :func:`subreaper` this process takes
init's place for its descendants (Linux ``PR_SET_CHILD_SUBREAPER``): :func:`run_command`
waits for those leftovers too, and the CPU of the whole tree is counted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_map() -> dict[int, list[int]]:
    """Every process's children, by parent pid (one read of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # gone between listing and reading
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def status_kib(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (VmRSS, VmHWM...); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """The proportional set size of a process in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants now."""
    children = children_map()
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def tree_memory(root: int) -> tuple[int, int, int]:
    """RSS and PSS (bytes) summed over ``root`` and all its descendants, and their count."""
    pids = tree_pids(root)
    rss = sum(status_kib(pid, "VmRSS") for pid in pids)
    pss = sum(pss_kib(pid) for pid in pids)
    return rss * 1024, pss * 1024, len(pids)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """Be the reaper of orphaned descendants meanwhile; yields whether the system allowed it.

    Only around commands run one at a time: an orphan is told from a child of this process
    by its being new and unknown, which concurrent starts from other threads would blur.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    became = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield became
    finally:
        if became:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@dataclass
class CommandRun:
    """One command run to its end, with the CPU of everything it started."""

    returncode: int
    wall_seconds: float
    command_cpu_seconds: float  # the command and the descendants it waited for itself
    tree_cpu_seconds: float  # ... and those that outlived it (reaped here, see subreaper)
    outlived: int  # how many descendants were still running when the command exited
    stdout: bytes
    stderr: bytes


def run_command(
    argv: Sequence[str], env: dict[str, str], cwd: Path, *, timeout: float, linger: float = 30.0
) -> CommandRun:
    """Run ``argv`` to its end, then wait up to ``linger`` s for what it left running.

    Call it under :func:`subreaper` for ``tree_cpu_seconds`` to hold the leftovers' CPU (else
    they are init's, and it equals ``command_cpu_seconds``).
    """
    me = os.getpid()
    before_children = set(children_map().get(me, []))
    cpu_before = _children_cpu()
    start = time.perf_counter()
    process = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    wall = time.perf_counter() - start
    cpu_command = _children_cpu()
    leftovers = [pid for pid in children_map().get(me, []) if pid not in before_children]
    deadline = time.monotonic() + linger
    for pid in leftovers:
        _reap(pid, deadline)
    return CommandRun(
        returncode=process.returncode,
        wall_seconds=wall,
        command_cpu_seconds=cpu_command - cpu_before,
        tree_cpu_seconds=_children_cpu() - cpu_before,
        outlived=len(leftovers),
        stdout=process.stdout,
        stderr=process.stderr,
    )


def _reap(pid: int, deadline: float) -> None:
    """Wait for a leftover to end (the forkserver does at EOF on its pipe), up to a time."""
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not this process's to wait for
        if done:
            return
        time.sleep(0.01)
