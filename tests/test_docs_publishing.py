"""Every snpmeasure command of docs/publishing.md runs, in a directory laid out as the page says.

The commands are read from the page's ``sh`` and ``yaml`` blocks (a ``\\``-continued line is one
command); each block runs in a fresh directory holding the build outputs, keys, a report and its
certificates. The report is made by the test's private AMD-like hierarchy (tests/pki.py) with a
measurement of the manifest, so `report verify` passes only by matching it; the test adds
`--trust-root` and `--at` for that private hierarchy.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil

import pytest
from conftest import DATA, ROOT, SAMPLES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki
from snpmeasure.cli.main import main

DOC = (ROOT / "docs" / "publishing.md").read_text()
AT = "2026-06-01T00:00:00Z"


def blocks() -> list[tuple[str, list[str]]]:
    """(language, commands) of every fenced block that holds snpmeasure commands."""
    out = []
    for language, body in re.findall(r"```(sh|yaml)\n(.*?)```", DOC, re.S):
        text = body.replace("\\\n", " ")
        commands = []
        for line in text.splitlines():
            line = line.strip().removeprefix("- run: |").removeprefix("- |").strip()
            if line.startswith("snpmeasure "):
                commands.append(line)
        if commands:
            out.append((language, commands))
    return out


BLOCKS = blocks()


def lay_out(directory, bzimage):
    """build/, keys/, the report and its certificates, as the page assumes."""
    from test_igvm_qemu import FILE_STATE, VMSA_GPA, vmsa_page
    from snpmeasure.formats.igvm_writer import IgvmWriter

    for name in ("build", "keys", "dist"):
        (directory / name).mkdir()
    shutil.copy(SAMPLES / "OVMF.amdsev.fd", directory / "build" / "OVMF.amdsev.fd")
    shutil.copy(bzimage, directory / "build" / "vmlinuz")
    (directory / "build" / "initrd.img").write_bytes(b"initrd" * 1000)
    (directory / "build" / "guest.igvm").write_bytes(
        IgvmWriter().platform().guest_policy().page_data(0x1000, b"\x11" * 4096)
        .vp_context(VMSA_GPA, vmsa_page(FILE_STATE)).build())
    key = ec.generate_private_key(ec.SECP384R1())
    (directory / "keys" / "manifest-signing.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / "keys" / "manifest-signing.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    shutil.copy(DATA / "keys" / "id_key_test.pem", directory / "keys" / "id-key.pem")
    shutil.copy(DATA / "keys" / "author_key_test.pem", directory / "keys" / "author-key.pem")


def test_the_page_has_the_commands_it_promises():
    kinds = [command.split()[1] for _, commands in BLOCKS for command in commands]
    for needed in ("manifest", "report", "id-block", "export"):
        assert needed in kinds
    assert sum(1 for language, _ in BLOCKS if language == "yaml") == 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_command_of_the_page_runs(index, tmp_path, monkeypatch, bzimage, capsys):
    language, commands = BLOCKS[index]
    if language == "sh":  # the sh blocks form one walk-through: run all that come before too
        commands = [c for lang, block in BLOCKS[:index + 1] if lang == "sh" for c in block]
    lay_out(tmp_path, bzimage)
    monkeypatch.chdir(tmp_path)
    h = pki.hierarchy("Milan", seed=11)
    paths = h.write(tmp_path)
    shutil.copy(paths["vcek"], tmp_path / "vcek.der")
    shutil.copy(paths["ca"], tmp_path / "ca.pem")
    for command in commands:
        args = shlex.split(command)[1:]
        if args[:2] == ["report", "verify"]:
            manifest = json.loads((tmp_path / "dist" / "measurements.json").read_text())
            statement = json.loads(__import__("base64").b64decode(manifest["payload"]))
            entry = statement["predicate"]["measurements"][77]
            (tmp_path / "report.bin").write_bytes(pki.report_for(
                h, measurement=bytes.fromhex(entry["measurement"])))
            args += ["--trust-root", str(paths["root"]), "--at", AT, "--json"]
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (command, err)
        if args[:2] == ["report", "verify"]:
            result = json.loads(out)
            assert result["result"] == "verified"
            assert result["matched_manifest_entries"][0]["vcpus"] == entry["vcpus"]
    written = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert written, "the block wrote nothing into dist/"
