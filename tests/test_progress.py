"""Progress on stderr for long find, manifest and kds fetch runs: only when stderr is a terminal,
erased when the run ends or a warning or error is printed (issue 17)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

from conftest import ROOT, SAMPLES

from snpmeasure.cli.console import Progress, show_warning

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
CLEAR = "\r\x1b[K"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_counts_and_status_are_drawn_on_a_terminal_and_erased_at_the_end():
    stream = Terminal()
    with Progress("find: configurations searched", stream, interval=0) as progress:
        progress.count(3, 12)
        progress.status("downloading http://x/\x1b[31m")
    assert stream.getvalue() == (
        f"{CLEAR}snpmeasure: find: configurations searched: 3/12 (25%)"
        f"{CLEAR}snpmeasure: find: configurations searched: downloading http://x/\\x1b[31m"
        f"{CLEAR}")


def test_the_last_count_is_always_drawn_and_others_are_throttled():
    stream = Terminal()
    with Progress("manifest", stream, interval=3600) as progress:
        for done in range(1, 101):
            progress.count(done, 100)
    drawn = [part for part in stream.getvalue().split(CLEAR) if part]
    assert drawn == ["snpmeasure: manifest: 1/100 (1%)", "snpmeasure: manifest: 100/100 (100%)"]


def test_nothing_is_written_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    with Progress("find", stream, interval=0) as progress:
        progress.count(1, 2)
        progress.status("downloading")
    assert stream.getvalue() == ""
    closed = io.StringIO()
    closed.close()
    assert Progress("find", closed).enabled is False  # isatty on a closed stream raises


def test_a_warning_erases_the_status_line_first(monkeypatch):
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with Progress("manifest", interval=0) as progress:
        progress.count(1, 4)
        show_warning(UserWarning("something"), UserWarning, "f", 1)
    assert stream.getvalue() == (f"{CLEAR}snpmeasure: manifest: 1/4 (25%){CLEAR}"
                                 "snpmeasure: warning: something\n")


def _run_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; (exit code, stdout, terminal output)."""
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    process = subprocess.Popen([sys.executable, "-m", "snpmeasure", *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = process.stdout.read().decode()
    process.stdout.close()
    code = process.wait()
    os.close(master)
    return code, out, b"".join(chunks).decode()


def test_find_shows_progress_on_a_terminal_and_keeps_stdout_clean():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, terminal = _run_on_a_terminal(
            ["find", "--ovmf", OVMF, "--mode", "snp", "--vmm-type", "QEMU", "--vcpus", "1-8",
             "--vcpu-type", "EPYC", "--guest-features", "0x1", "--measurement", "00" * 48])
    assert code == 6 and out == ""  # no match: exit 6, nothing on stdout
    assert "snpmeasure: find: configurations searched: " in terminal
    assert "8/8 (100%)" in terminal
    # the status line is erased before the error is printed
    assert terminal.split(CLEAR)[-1].startswith("snpmeasure: error: none of the 8 ")


def test_find_in_a_pipe_prints_only_the_error(capsys):
    from snpmeasure.cli.main import main

    assert main(["find", "--ovmf", OVMF, "--mode", "snp", "--vmm-type", "QEMU", "--vcpus", "1-2",
                 "--vcpu-type", "EPYC", "--guest-features", "0x1",
                 "--measurement", "00" * 48]) == 6
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("snpmeasure: error: none of the 2 ") and "\r" not in err


def test_manifest_shows_progress_on_a_terminal_and_writes_the_whole_document():
    import json

    code, out, terminal = _run_on_a_terminal(
        ["manifest", "--ovmf", OVMF, "--mode", "snp", "--vcpus", "1,2,4",
         "--vcpu-type", "EPYC,EPYC-Milan"])
    assert code == 0 and len(json.loads(out)["measurements"]) == 6
    assert "snpmeasure: manifest: entries measured: 6/6 (100%)" in terminal
    assert terminal.endswith(CLEAR)  # erased: the terminal is left as it was
