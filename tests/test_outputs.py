"""Writing outputs (snpmeasure.files): sets of files all or nothing, exclusive creation, races
between runs, what --force may replace, outputs naming the same file, signals, modes, full disks
and broken standard outputs. See the guarantees in the docstring of snpmeasure/files.py."""
from __future__ import annotations

import base64
import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
from conftest import DATA, ROOT, SAMPLES

from snpmeasure import files
from snpmeasure.cli.main import main
from snpmeasure.errors import ConfigError, OutputError

OVMF = str(SAMPLES / "OVMF.amdsev.fd")
ID_KEY = str(DATA / "keys" / "id_key_test.pem")
MEASURE = ["measure", "--mode", "snp", "--vcpus", "3", "--vcpu-type", "EPYC", "--ovmf", OVMF]
ID_BLOCK = ["id-block", "--id-key", ID_KEY]
ZERO_DIGEST = "00" * 48


def listing(directory) -> list[str]:
    return sorted(os.listdir(directory))


def one_error_line(err: str) -> bool:
    return err.startswith("snpmeasure: error: ") and err.count("\n") == 1 \
        and "Traceback" not in err


def vmsas(directory) -> dict:
    return {name: (directory / name).read_bytes() for name in listing(directory)}


class CallHook:
    """Replace ``os.NAME`` (the module files.py uses) by a wrapper that runs ``action`` around
    the ``nth`` call (before or after the real call)."""

    def __init__(self, monkeypatch, name, nth, action, after=False):
        self.real = getattr(os, name)
        self.calls = 0
        self.nth, self.action, self.after = nth, action, after
        monkeypatch.setattr(files.os, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.nth and not self.after:
            self.action()
        result = self.real(*args, **kwargs)
        if self.calls == self.nth and self.after:
            self.action()
        return result


def fail(code=errno.EIO):
    def action():
        raise OSError(code, os.strerror(code))
    return action


# -- 1, 3: a set of files appears whole or not at all ---------------------------------------------

def test_vmsa_set_is_removed_when_a_later_file_cannot_be_put_in_place(tmp_path, monkeypatch,
                                                                      capsys):
    out = tmp_path / "out"
    out.mkdir()
    CallHook(monkeypatch, "link", 3, fail())  # vmsa0 and vmsa1 are in place, vmsa2 fails
    assert main(MEASURE + ["--vmsa-dir", str(out)]) == 7
    captured = capsys.readouterr()
    assert captured.out == "" and one_error_line(captured.err)
    assert listing(out) == []


def test_dump_vmsa_in_the_current_directory_is_all_or_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    CallHook(monkeypatch, "link", 2, fail(errno.ENOSPC))
    assert main(MEASURE + ["--dump-vmsa"]) == 7
    assert "No space left on device" in capsys.readouterr().err
    assert listing(tmp_path) == []
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(MEASURE + ["--dump-vmsa"]) == 0
    assert listing(tmp_path) == ["vmsa0.bin", "vmsa1.bin", "vmsa2.bin"]


def test_forced_vmsa_set_is_put_back_when_a_later_file_fails(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    old = {f"vmsa{i}.bin": f"old {i}".encode() for i in range(3)}
    for name, data in old.items():
        (out / name).write_bytes(data)
    CallHook(monkeypatch, "replace", 3, fail())
    assert main(MEASURE + ["--vmsa-dir", str(out), "--force"]) == 7
    assert one_error_line(capsys.readouterr().err)
    assert vmsas(out) == old  # the old set, whole, and no temporary or backup file
    monkeypatch.undo()
    assert main(MEASURE + ["--vmsa-dir", str(out), "--force"]) == 0
    assert [len(data) for data in vmsas(out).values()] == [4096] * 3


def test_id_block_and_id_auth_appear_together_or_not_at_all(tmp_path, monkeypatch, capsys):
    block, auth = tmp_path / "block.bin", tmp_path / "auth.bin"
    args = ID_BLOCK + ["--measurement", ZERO_DIGEST, "--id-block-out", str(block),
                       "--id-auth-out", str(auth)]
    CallHook(monkeypatch, "link", 2, fail())
    assert main(args) == 7
    assert capsys.readouterr().out == "" and listing(tmp_path) == []
    monkeypatch.undo()
    assert main(args) == 0
    assert listing(tmp_path) == ["auth.bin", "block.bin"]


def test_a_set_staged_in_full_before_anything_is_put_in_place(tmp_path, monkeypatch):
    """While the second file is being written, the first is not visible yet."""
    seen = []
    CallHook(monkeypatch, "fsync", 2, lambda: seen.append(listing(tmp_path)))
    files.write_outputs([(tmp_path / "a", b"1"), (tmp_path / "b", b"2")])
    assert all(not name.startswith(("a", "b")) for name in seen[0])  # only .a.*.tmp, .b.*.tmp
    assert listing(tmp_path) == ["a", "b"]


INDEX = b'{"tool": "snpmeasure", "entries": []}'  # what a batch's index.json starts with


def test_force_replaces_only_a_directory_a_batch_wrote(tmp_path, capsys):
    """--force replaces an earlier batch: a flat directory of regular files whose index.json
    snpmeasure wrote. A project that happens to hold an index.json is never deleted."""
    cases = {
        "foreign index": {"index.json": b"{}"},
        "subdirectory": {"index.json": INDEX, "src/main.c": b"x"},
        "index link": {"index.json": None, "keep": b"k"},
        "not json": {"index.json": b"run 1"},
    }
    for name, content in cases.items():
        target = tmp_path / name.replace(" ", "-")
        target.mkdir()
        for relative, data in content.items():
            path = target / relative
            path.parent.mkdir(exist_ok=True)
            if data is None:
                path.symlink_to("/etc/hostname")
            else:
                path.write_bytes(data)
        before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
        with pytest.raises(OutputError, match="--force replaces only a directory an earlier "
                                              "run wrote") as caught:
            files.write_directory(target, [("index.json", INDEX)], force=True)
        assert caught.value.exit_code == 7, name
        assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before, name
    ours = tmp_path / "ours"
    files.write_directory(ours, [("index.json", INDEX), ("a", b"1")])
    files.write_directory(ours, [("index.json", INDEX), ("b", b"2")], force=True)
    assert listing(ours) == ["b", "index.json"]


def test_write_directory_failure_keeps_the_earlier_batch(tmp_path, monkeypatch):
    target = tmp_path / "batch"
    files.write_directory(target, [("index.json", INDEX), ("a", b"old")])
    real_rename = os.rename

    def rename(src, dst):
        if os.fspath(dst) == str(target) and ".tmp" in os.fspath(src):
            raise OSError(errno.EIO, "I/O error")
        return real_rename(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(OutputError) as caught:
        files.write_directory(target, [("index.json", INDEX), ("a", b"new")], force=True)
    assert caught.value.exit_code == 7
    assert (target / "a").read_bytes() == b"old" and listing(tmp_path) == ["batch"]
    monkeypatch.undo()
    files.write_directory(target, [("index.json", INDEX), ("a", b"new")], force=True)
    assert (target / "a").read_bytes() == b"new" and listing(tmp_path) == ["batch"]


# -- 2: "does not exist" holds when the file is created; races between runs --------------------------

class Rendezvous:
    """Two threads meet once: the first call of each thread to one of ``os.NAMES`` for which
    ``when(name, *args)`` holds waits (before the real call, or after it with ``after``) until
    both got there."""

    def __init__(self, monkeypatch, names, when=lambda name, *args: True, after=False):
        self.barrier = threading.Barrier(2, timeout=60)
        self.local = threading.local()
        self.when, self.after = when, after
        for name in names:
            monkeypatch.setattr(files.os, name, self.wrap(name, getattr(os, name)))

    def wrap(self, name, real):
        def call(*args, **kwargs):
            meet = not getattr(self.local, "met", False) and self.when(name, *args)
            if meet:
                self.local.met = True
                if not self.after:
                    self.barrier.wait()
            result = real(*args, **kwargs)
            if meet and self.after:
                self.barrier.wait()
            return result
        return call


def staged(monkeypatch):
    """Both runs have written and synced their first file (every check is behind them); the
    directory locks then let one run put its files in place after the other."""
    Rendezvous(monkeypatch, ["fsync"], after=True)


def creating(monkeypatch, target):
    """Both runs are at the very call that creates ``target`` (link, replace, mkdir or rename):
    nothing but that call can decide. The directory locks, which would make one run wait for the
    other before this point, are switched off."""
    monkeypatch.setattr(files, "_DirectoryLocks", NoLocks, raising=False)

    def when(name, *args):
        return os.fspath(args[0] if name == "mkdir" else args[1]) == str(target)

    Rendezvous(monkeypatch, ["link", "replace", "rename", "mkdir"], when)


class NoLocks:
    def __init__(self, directories):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def sync(self):
        pass


def race(targets) -> list:
    """Run each callable in its own thread at once; their exceptions (None for success)."""
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


MEET = {"staged": staged, "creating": creating}


@pytest.mark.parametrize("meet", ["staged", "creating"])
@pytest.mark.parametrize("force", [False, True])
def test_two_writers_creating_one_file_at_once(tmp_path, monkeypatch, force, meet):
    target = tmp_path / "f"
    staged(monkeypatch) if meet == "staged" else creating(monkeypatch, target)
    data = [b"first writer", b"second writer"]
    results = race([lambda d=d: files.write_atomic(target, d, force) for d in data])
    if force:  # both may replace a regular file: one after the other, each whole
        assert results == [None, None] and target.read_bytes() in data
    else:
        assert results.count(None) == 1
        loser = next(r for r in results if r is not None)
        assert isinstance(loser, OutputError) and loser.exit_code == 7
        assert target.read_bytes() == data[results.index(None)]
    assert listing(tmp_path) == ["f"]


@pytest.mark.parametrize("meet", ["staged", "creating"])
def test_two_writers_of_one_set_at_once_exactly_one_set_wins(tmp_path, monkeypatch, meet):
    staged(monkeypatch) if meet == "staged" else creating(monkeypatch, tmp_path / "x")
    sets = [[(tmp_path / name, f"{name} of run {run}".encode()) for name in ("x", "y", "z")]
            for run in (0, 1)]
    results = race([lambda s=s: files.write_outputs(s) for s in sets])
    assert results.count(None) == 1
    winner = sets[results.index(None)]
    assert all(path.read_bytes() == data for path, data in winner)
    assert listing(tmp_path) == ["x", "y", "z"]


def test_two_forced_writers_of_one_set_leave_one_whole_set(tmp_path, monkeypatch):
    staged(monkeypatch)
    for name in ("x", "y", "z"):
        (tmp_path / name).write_bytes(b"old")
    sets = [[(tmp_path / name, f"{name} of run {run}".encode()) for name in ("x", "y", "z")]
            for run in (0, 1)]
    assert race([lambda s=s: files.write_outputs(s, force=True) for s in sets]) == [None, None]
    assert any(all(path.read_bytes() == data for path, data in s) for s in sets)
    assert listing(tmp_path) == ["x", "y", "z"]


@pytest.mark.parametrize("meet", ["staged", "creating"])
def test_two_batches_into_one_new_directory_at_once(tmp_path, monkeypatch, meet):
    target = tmp_path / "ids"
    staged(monkeypatch) if meet == "staged" else creating(monkeypatch, target)
    batches = [[("index.json", f"run {run}".encode()), ("block", bytes([run]) * 4)]
               for run in (0, 1)]
    results = race([lambda b=b: files.write_directory(target, b) for b in batches])
    assert results.count(None) == 1
    loser = next(r for r in results if r is not None)
    assert isinstance(loser, OutputError) and loser.exit_code == 7
    winner = batches[results.index(None)]
    assert {name: (target / name).read_bytes() for name in listing(target)} == dict(winner)
    assert listing(tmp_path) == ["ids"]


class Intruder:
    """Someone else creates ``target`` (with ``make``) just before this run's call that would
    create it (link, replace, mkdir or rename onto it)."""

    def __init__(self, monkeypatch, target, make):
        self.target, self.make, self.done = str(target), make, False
        for name in ("link", "replace", "rename", "mkdir"):
            monkeypatch.setattr(files.os, name, self.wrap(name, getattr(os, name)))

    def wrap(self, name, real):
        def call(*args, **kwargs):
            destination = args[0] if name == "mkdir" else args[1]
            if not self.done and os.fspath(destination) == self.target:
                self.done = True
                self.make()
            return real(*args, **kwargs)
        return call


def test_a_file_created_meanwhile_is_not_replaced_without_force(tmp_path, monkeypatch):
    target = tmp_path / "f"
    Intruder(monkeypatch, target, lambda: target.write_bytes(b"theirs"))
    with pytest.raises(OutputError) as caught:
        files.write_atomic(target, b"ours")
    assert caught.value.exit_code == 7 and "meanwhile" in str(caught.value)
    assert target.read_bytes() == b"theirs" and listing(tmp_path) == ["f"]


def test_a_directory_created_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "ids"
    Intruder(monkeypatch, target, lambda: target.mkdir())  # empty: rename() would replace it
    with pytest.raises(OutputError) as caught:
        files.write_directory(target, [("index.json", b"{}")])
    assert caught.value.exit_code == 7
    assert listing(target) == [] and listing(tmp_path) == ["ids"]


CHILD = r"""
import os, signal, sys, time
mode, marker, other = sys.argv[1:4]
from snpmeasure import files

def arrive():
    open(marker, "w").close()
    if mode == "wait-for-signal":
        while True:
            signal.pause()
    while not os.path.exists(other):  # both runs are here: the race is on
        time.sleep(0.01)

def hook(name):
    real, met = getattr(os, name), []
    def call(*args, **kwargs):
        if mode == "creating":  # at the first call that creates a visible file
            meet = not met and not os.path.basename(os.fspath(args[1])).startswith(".")
            if meet:
                met.append(1)
                arrive()
            return real(*args, **kwargs)
        result = real(*args, **kwargs)
        if not met:
            met.append(1)
            arrive()
        return result
    setattr(os, name, call)

if mode == "creating":
    class NoLocks:
        def __init__(self, directories): pass
        def __enter__(self): return self
        def __exit__(self, *exc): return False
        def sync(self): pass
    files._DirectoryLocks = NoLocks
    hook("link"), hook("replace")
else:
    hook("fsync")
from snpmeasure.cli.main import main
sys.exit(main(sys.argv[4:]))
"""


def child(mode, marker, other, args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SNPMEASURE_SEQUENTIAL": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(marker), str(other), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


@pytest.mark.parametrize("meet", ["staged", "creating"])
def test_two_id_block_runs_writing_the_same_pair_at_once(tmp_path, meet):
    """Two processes, both past every check: one pair wins whole (exit 0), the other run exits
    7 with one line and changes nothing."""
    block, auth = tmp_path / "block.bin", tmp_path / "auth.bin"
    runs = []
    for run, digest in enumerate(("00" * 48, "11" * 48)):
        args = ID_BLOCK + ["--measurement", digest, "--output-format", "json",
                           "--id-block-out", str(block), "--id-auth-out", str(auth)]
        runs.append(child(meet, tmp_path / f"m{run}", tmp_path / f"m{1 - run}", args))
    results = [(p.wait(120), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 7], results
    (_, out, _), = [r for r in results if r[0] == 0]
    (_, lost_out, lost_err), = [r for r in results if r[0] == 7]
    assert lost_out == "" and one_error_line(lost_err), lost_err
    signed = json.loads(out)
    assert block.read_bytes() == base64.b64decode(signed["id_block"])
    assert auth.read_bytes() == base64.b64decode(signed["id_auth"])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("m")) == \
        ["auth.bin", "block.bin"]


# -- 4: --force replaces regular files only --------------------------------------------------------

def test_force_refuses_a_fifo(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = ID_BLOCK + ["--measurement", ZERO_DIGEST, "--id-block-out", str(fifo), "--force"]
    assert main(args) == 7
    err = capsys.readouterr().err
    assert one_error_line(err) and str(fifo) in err and "FIFO" in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["fifo"]


def test_force_refuses_a_socket_a_directory_and_a_symbolic_link(tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        (tmp_path / "d").mkdir()
        (tmp_path / "victim").write_bytes(b"precious")
        (tmp_path / "l").symlink_to(tmp_path / "victim")
        for name, what in (("s", "socket"), ("d", "directory"), ("l", "symbolic link")):
            with pytest.raises(OutputError) as caught:
                files.write_atomic(tmp_path / name, b"x", force=True)
            assert what in str(caught.value) and str(tmp_path / name) in str(caught.value)
        assert (tmp_path / "victim").read_bytes() == b"precious"
        assert stat.S_ISSOCK(os.lstat(tmp_path / "s").st_mode)
        assert listing(tmp_path) == ["d", "l", "s", "victim"]
    finally:
        sock.close()


def test_force_refuses_a_device(tmp_path, monkeypatch):
    """Never aimed at a real /dev node (a bug would replace it): a device made here where
    permitted, otherwise a file that lstat reports as a device."""
    device = tmp_path / "device"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (OSError, AttributeError):
        device.write_bytes(b"")
        real_lstat = os.lstat

        def lstat(path, *args, **kwargs):
            info = real_lstat(path, *args, **kwargs)
            if os.fspath(path) != str(device):
                return info
            fields = list(info)
            fields[stat.ST_MODE] = stat.S_IFCHR | 0o600
            return os.stat_result(fields)

        monkeypatch.setattr(files.os, "lstat", lstat)
    with pytest.raises(OutputError, match="character device") as caught:
        files.write_atomic(device, b"x", force=True)
    assert str(device) in str(caught.value)
    with pytest.raises(OutputError, match="character device"):
        files.check_outputs([device], force=True)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and listing(tmp_path) == ["device"]


def test_the_null_device_by_its_name_discards_the_output(tmp_path, capsys):
    """'-o /dev/null' (exactly os.devnull) is the shell idiom for 'run, keep nothing': the data
    is discarded and the device untouched; any other device is still refused."""
    before = os.stat(os.devnull)
    files.write_atomic(os.devnull, b"x" * 10)
    files.write_outputs([(os.devnull, b"a"), (tmp_path / "kept", b"b")])
    assert (tmp_path / "kept").read_bytes() == b"b"
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == \
        (before.st_ino, before.st_rdev)
    assert main(["manifest", "--mode", "snp", "--ovmf", str(SAMPLES / "OVMF.amdsev.fd"),
                 "--vcpus", "1", "--vcpu-type", "EPYC", "-o", os.devnull]) == 0
    assert capsys.readouterr().out == ""


def test_write_directory_names_what_is_in_the_way(tmp_path):
    os.mkfifo(tmp_path / "p")
    with pytest.raises(OutputError, match="FIFO"):
        files.write_directory(tmp_path / "p", [("index.json", b"{}")], force=True)


# -- 5: two outputs naming the same file ------------------------------------------------------------

def test_id_block_and_id_auth_naming_one_file_are_refused_before_anything(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "x"
    for other in (str(target), str(tmp_path / "sub" / ".." / "x")):
        assert main(ID_BLOCK + ["--measurement", ZERO_DIGEST, "--id-block-out", str(target),
                                "--id-auth-out", other]) == 2
        out, err = capsys.readouterr()
        assert out == "" and one_error_line(err) and "same file" in err
    assert listing(tmp_path) == ["sub"]


def test_same_file_through_a_linked_directory_or_a_hard_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    with pytest.raises(ConfigError) as caught:
        files.write_outputs([(real / "a", b"1"), (tmp_path / "alias" / "a", b"2")])
    assert caught.value.exit_code == 2
    (real / "b").write_bytes(b"old")
    os.link(real / "b", real / "c")
    with pytest.raises(ConfigError):
        files.write_outputs([(real / "b", b"1"), (real / "c", b"2")], force=True)
    with pytest.raises(ConfigError):
        files.check_outputs([real / "b", real / "c"], force=True)
    assert listing(real) == ["b", "c"] and (real / "b").read_bytes() == b"old"


# -- 6: signals --------------------------------------------------------------------------------------

SIGNALS = [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]


def send(signum):
    """Send ``signum`` to this very process (only where output_guard will handle it)."""
    if signal.getsignal(signum) not in (signal.SIG_DFL, signal.default_int_handler):
        pytest.skip(f"signal {signum} is handled by someone else in this test run")
    return lambda: os.kill(os.getpid(), signum)


@pytest.mark.parametrize("signum,code", SIGNALS, ids=lambda v: str(v))
def test_signal_while_staging_removes_the_temporary_files(tmp_path, monkeypatch, capsys,
                                                          signum, code):
    out = tmp_path / "out"
    out.mkdir()
    CallHook(monkeypatch, "fsync", 2, send(signum))  # vmsa0 staged, vmsa1 being written
    assert main(MEASURE + ["--vmsa-dir", str(out)]) == code
    captured = capsys.readouterr()
    assert captured.out == "" and one_error_line(captured.err) and "interrupted" in captured.err
    assert listing(out) == []
    assert signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler)


@pytest.mark.parametrize("signum,code", SIGNALS, ids=lambda v: str(v))
def test_signal_while_putting_a_set_in_place_removes_what_was_put(tmp_path, monkeypatch, capsys,
                                                                  signum, code):
    """The signal arrives during the link of the second file: that step finishes (it is
    recorded), then the whole set is removed again."""
    out = tmp_path / "out"
    out.mkdir()
    CallHook(monkeypatch, "link", 2, send(signum))
    assert main(MEASURE + ["--vmsa-dir", str(out)]) == code
    assert one_error_line(capsys.readouterr().err)
    assert listing(out) == []


def test_sigint_on_the_typer_path(tmp_path, monkeypatch, capsys):
    """click turns KeyboardInterrupt into its Abort; Interrupted passes through it."""
    CallHook(monkeypatch, "fsync", 2, send(signal.SIGINT))
    assert main(MEASURE + ["--vmsa-dir", str(tmp_path)], fast=False) == 130
    assert capsys.readouterr().err == "snpmeasure: error: interrupted\n"
    assert listing(tmp_path) == []


def test_keyboard_interrupt_without_the_guard_still_cleans_up(tmp_path, monkeypatch):
    """A library caller (no output_guard): KeyboardInterrupt unwinds through the rollback."""
    def interrupt():
        raise KeyboardInterrupt

    CallHook(monkeypatch, "link", 2, interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_outputs([(tmp_path / "a", b"1"), (tmp_path / "b", b"2")])
    assert listing(tmp_path) == []


def test_signal_while_replacing_a_set_puts_the_old_one_back(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    old = {f"vmsa{i}.bin": b"old" for i in range(3)}
    for name, data in old.items():
        (out / name).write_bytes(data)
    CallHook(monkeypatch, "replace", 2, send(signal.SIGTERM), after=True)
    assert main(MEASURE + ["--vmsa-dir", str(out), "--force"]) == 143
    capsys.readouterr()
    assert vmsas(out) == old


def test_signal_while_writing_a_directory_removes_the_staging_directory(tmp_path, monkeypatch):
    from snpmeasure.files import Interrupted, output_guard

    CallHook(monkeypatch, "fsync", 2, send(signal.SIGHUP))
    with pytest.raises(Interrupted) as caught:
        with output_guard():
            files.write_directory(tmp_path / "ids", [("index.json", b"{}"), ("a", b"1"),
                                                     ("b", b"2")])
    assert caught.value.exit_code == 129 and listing(tmp_path) == []
    monkeypatch.undo()
    CallHook(monkeypatch, "rename", 1, send(signal.SIGTERM), after=True)
    with pytest.raises(Interrupted):
        with output_guard():
            files.write_directory(tmp_path / "ids", [("index.json", b"{}")])
    assert listing(tmp_path) == []


def test_an_ignored_signal_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with files.output_guard():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("signum,code", SIGNALS, ids=lambda v: str(v))
def test_a_killed_process_leaves_no_temporary_files(tmp_path, signum, code):
    """A real process, stopped in the middle of staging its VMSAs (the first is written and
    synced: the child then waits, so no timing is involved), is sent the signal."""
    out = tmp_path / "out"
    out.mkdir()
    marker = tmp_path / "staged"
    process = child("wait-for-signal", marker, marker, MEASURE + ["--vmsa-dir", str(out)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the child never staged its first file"
            time.sleep(0.01)
        assert any(name.startswith(".vmsa") for name in listing(out))  # mid-write indeed
        process.send_signal(signum)
        out_text, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, err
    assert out_text == "" and one_error_line(err) and "interrupted" in err
    assert listing(out) == []


# -- 7: modes follow the umask --------------------------------------------------------------------

@pytest.fixture
def umask():
    def set_umask(value):
        os.umask(value)
    previous = os.umask(0o022)
    yield set_umask
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_modes_follow_the_umask(tmp_path, umask):
    umask(0o022)
    files.write_atomic(tmp_path / "a", b"1")
    files.write_outputs([(tmp_path / "b", b"1"), (tmp_path / "c", b"2")])
    files.write_directory(tmp_path / "d", [("index.json", b"{}")])
    assert [mode(tmp_path / n) for n in ("a", "b", "c")] == [0o644] * 3
    assert mode(tmp_path / "d") == 0o755 and mode(tmp_path / "d" / "index.json") == 0o644
    files.write_atomic(tmp_path / "a", b"2", force=True)
    assert mode(tmp_path / "a") == 0o644
    umask(0o077)
    files.write_atomic(tmp_path / "e", b"1")
    files.write_directory(tmp_path / "f", [("index.json", b"{}")])
    assert mode(tmp_path / "e") == 0o600 and mode(tmp_path / "f") == 0o700
    umask(0o002)
    files.write_atomic(tmp_path / "g", b"1")
    assert mode(tmp_path / "g") == 0o664


def test_private_outputs_are_0600_whatever_the_umask(tmp_path, umask):
    umask(0o000)
    files.write_atomic(tmp_path / "key", b"secret", private=True)
    files.write_directory(tmp_path / "keys", [("index.json", b"{}")], private=True)
    assert mode(tmp_path / "key") == 0o600
    assert mode(tmp_path / "keys") == 0o700 and mode(tmp_path / "keys" / "index.json") == 0o600


def test_vmsa_files_follow_the_umask(tmp_path, umask, capsys):
    umask(0o022)
    assert main(MEASURE + ["--vmsa-dir", str(tmp_path)]) == 0
    assert {mode(tmp_path / n) for n in listing(tmp_path)} == {0o644}


# -- 8: full disks and broken standard output --------------------------------------------------------

def test_full_disk_is_exit_7_with_one_line(tmp_path, monkeypatch, capsys):
    def write(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "write", write)
    assert main(MEASURE + ["--vmsa-dir", str(tmp_path)]) == 7
    captured = capsys.readouterr()
    assert captured.out == "" and one_error_line(captured.err)
    assert "No space left on device" in captured.err and listing(tmp_path) == []
    manifest = tmp_path / "m.json"
    assert main(["manifest", "--mode", "sev", "--ovmf", OVMF, "-o", str(manifest)]) == 7
    assert one_error_line(capsys.readouterr().err) and listing(tmp_path) == []
    with pytest.raises(files.WriteError) as caught:
        files.write_atomic(tmp_path / "x", b"data")
    assert isinstance(caught.value, OutputError) and isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENOSPC and caught.value.exit_code == 7


def test_a_directory_that_refuses_writing_is_exit_7(tmp_path, monkeypatch, capsys):
    """What a non-root user meets in a read-only directory (the suite may run as root, whom
    permissions do not stop, so the refusal is the operating system's EACCES, injected)."""
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.fspath(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", open_)
    assert main(["manifest", "--mode", "sev", "--ovmf", OVMF, "-o",
                 str(tmp_path / "m.json")]) == 7
    captured = capsys.readouterr()
    assert captured.out == "" and one_error_line(captured.err)
    assert "Permission denied" in captured.err and str(tmp_path) in captured.err
    assert listing(tmp_path) == []


class BrokenStdout:
    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize("fast", [True, False])
def test_broken_stdout_in_process(monkeypatch, capsys, fast):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", BrokenStdout())
    assert main(MEASURE, fast=fast) == 7
    err = capsys.readouterr().err
    assert one_error_line(err) and "standard output" in err and "Broken pipe" in err


def test_closed_stdout_in_process(monkeypatch, capsys):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", None)
    assert main(MEASURE) == 7
    assert capsys.readouterr().err == "snpmeasure: error: standard output: is closed\n"


def run_cli(args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "snpmeasure", *args], cwd=ROOT, env=env,
                          stderr=subprocess.PIPE, text=True, timeout=120, **kwargs)


COMMANDS = [MEASURE, ["manifest", "--mode", "sev", "--ovmf", OVMF]]


@pytest.mark.parametrize("args", COMMANDS, ids=["measure", "manifest"])
def test_stdout_a_pipe_nobody_reads(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the child writes: EPIPE, deterministically
    try:
        result = run_cli(args, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 7, result.stderr
    assert one_error_line(result.stderr) and "Broken pipe" in result.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=["measure", "manifest"])
def test_stdout_closed(args):
    result = run_cli(args, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert result.returncode == 7, result.stderr
    assert one_error_line(result.stderr) and "closed" in result.stderr


@pytest.mark.parametrize("args", COMMANDS + [["--help"], ["report", "verify", "--help"]],
                         ids=["measure", "manifest", "help", "command-help"])
def test_stdout_on_a_full_device(args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        result = run_cli(args, stdout=full)
    assert result.returncode == 7, result.stderr
    assert one_error_line(result.stderr) and "No space left" in result.stderr
