"""Dead references: every ``--flag`` that a message, a help text, the README or docs/ names is an
option snpmeasure has (issue 17: "every command's --help and error messages read for ... dead
references"). Flags of other programs are listed here with the one file allowed to name them."""
import re
from pathlib import Path

from snpmeasure.cli.options import COMMANDS, DEBUG, GROUPS

ROOT = Path(__file__).resolve().parent.parent
# --flag, not a prefix being assembled (``--vcpu-{name}``, "a ``--no-`` form")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9])(?![\w{-])")
SINGLE_DASH = re.compile(r"(?<![\w-])(-[a-z][a-z0-9-]*[a-z0-9])(?![\w{-])")
OTHER_PROGRAMS = {  # flag -> the file that quotes the other program
    "--key": "docs/publishing.md",                         # cosign verify-blob
    "--signature": "docs/publishing.md",
    "--type": "docs/publishing.md",
    "--insecure-ignore-tlog": "docs/publishing.md",
    "--path": "docs/publishing.md",                        # cosign's --path in a CI example
    "--signature-digest-algorithm": "docs/publishing.md",
}


def our_flags() -> set:
    commands = list(COMMANDS) + [c for _, commands in GROUPS.values() for c in commands]
    flags = {"--help", *DEBUG.names}
    for command in commands:
        for option in command.options:
            flags.update(name for name in option.names if name.startswith("--"))
            if option.negative:
                flags.add(option.negative)
    return flags


def test_every_flag_named_anywhere_exists():
    known = our_flags()
    assert {"--ovmf", "--vcpus", "--no-host-checks", "--sign-passphrase-env", "--ca"} <= known
    files = sorted((ROOT / "snpmeasure").rglob("*.py")) + sorted((ROOT / "docs").rglob("*.md")) \
        + [ROOT / "README.md"]
    files = [f for f in files if f.name != "spec.py"]  # the option machinery's own examples
    dead = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        for match in FLAG.finditer(path.read_text()):
            flag = match.group(1)
            if flag not in known and OTHER_PROGRAMS.get(flag) != relative:
                line = path.read_text().count("\n", 0, match.start()) + 1
                dead.append(f"{relative}:{line}: {flag}")
        for match in SINGLE_DASH.finditer(path.read_text()):  # ours, with one dash lost
            if "-" + match.group(1) in known and "-" in match.group(1)[1:]:
                line = path.read_text().count("\n", 0, match.start()) + 1
                dead.append(f"{relative}:{line}: {match.group(1)}")
    assert not dead, dead


def test_the_pattern_finds_flags_and_skips_prefixes():
    assert FLAG.findall("give --id-key-passphrase-env or -passphrase-env, or --xy.") == \
        ["--id-key-passphrase-env", "--xy"]
    assert FLAG.findall('f"--vcpu-{name}" and a `--no-` form') == []
    assert SINGLE_DASH.findall("with the -passphrase-env or --sign option, -cpu host") == \
        ["-passphrase-env", "-cpu"]


def test_help_never_cuts_a_flag_across_lines():
    """--help wraps between words: a flag (or a hyphenated name) cut at its hyphen cannot be
    copied from the terminal."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "64"}
    lines = []
    invocations = [[c.name] for c in COMMANDS if not c.hidden] + [
        [group, c.name] for group, (_, commands) in GROUPS.items() for c in commands]
    for words in invocations:
        shown = subprocess.run([sys.executable, "-m", "snpmeasure", *words, "--help"],
                               capture_output=True, text=True, env=env)
        assert shown.returncode == 0, words
        lines += [(" ".join(words), line) for line in shown.stdout.splitlines()]
    assert len(lines) > 300
    cut = [(words, line) for words, line in lines if re.search(r"\w-$", line.rstrip())]
    assert not cut, cut
