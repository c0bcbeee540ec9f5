"""Every snpmeasure command in the README's usage sections runs as written, in order, in a
directory holding the files it names (issue 17: a new user works from the README alone).

Files the README names are laid out first: the sample firmware under its names, a bzImage, an
IGVM file built by tests' writer for each IGVM name, keys, and a report made by the tests'
private AMD-like hierarchy (tests/pki.py) with a measurement of the manifest the README builds,
so `find` and `report verify` pass only by matching it (`report verify` gets `--trust-root`,
`--ca` and `--at` for that hierarchy). ``seed=$(snpmeasure ...)`` is run and ``"$seed"`` replaced.
"""
from __future__ import annotations

import base64
import json
import re
import shlex
import shutil

from conftest import DATA, ROOT, SAMPLES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki
from snpmeasure.cli.main import main

SECTIONS = ("Usage", "IGVM files", "ID blocks and key digests",
            "Manifests, explanations, mismatch diagnosis", "Verifying attestation reports")
AT = "2026-06-01T00:00:00Z"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for title in SECTIONS:
        section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        for body in re.findall(r"```sh\n(.*?)```", section, re.S):
            for line in body.replace("\\\n", " ").splitlines():
                line = line.split("  #", 1)[0].strip()
                if line.startswith(("snpmeasure ", "seed=$(snpmeasure ")):
                    commands.append(line)
    return commands


def lay_out(directory, bzimage) -> None:
    from test_igvm_qemu import FILE_STATE, VMSA_GPA, vmsa_page
    from snpmeasure.formats.igvm_writer import IgvmWriter

    for name in ("OVMF.fd", "OVMF.amdsev.fd"):
        shutil.copy(SAMPLES / "OVMF.amdsev.fd", directory / name)
    shutil.copy(bzimage, directory / "vmlinuz")
    (directory / "initrd.img").write_bytes(b"initrd" * 1000)
    igvm = IgvmWriter().platform().guest_policy().page_data(0x1000, b"\x11" * 4096) \
        .vp_context(VMSA_GPA, vmsa_page(FILE_STATE)).build()
    for name in ("coconut-qemu.igvm", "openhcl.igvm", "guest.igvm"):
        (directory / name).write_bytes(igvm)
    key = ec.generate_private_key(ec.SECP384R1())
    (directory / "signing-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / "signing-key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    shutil.copy(DATA / "keys" / "id_key_test.pem", directory / "id-key.pem")
    shutil.copy(DATA / "keys" / "author_key_test.pem", directory / "author-key.pem")


def test_the_readme_names_its_jobs():
    kinds = {shlex.split(command.removeprefix("seed=$("))[1] for command in readme_commands()}
    assert {"measure", "igvm", "id-block", "key-digest", "manifest", "export", "explain",
            "find", "inspect", "report"} <= kinds


def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, bzimage, capsys):
    lay_out(tmp_path, bzimage)
    monkeypatch.chdir(tmp_path)
    h = pki.hierarchy("Milan", seed=12)
    paths = h.write(tmp_path)
    shutil.copy(paths["vcek"], tmp_path / "vcek.der")
    variables = {}
    ran = 0
    for command in readme_commands():
        target = None
        if command.startswith("seed=$("):
            target, command = "seed", command.removeprefix("seed=$(").removesuffix(")")
        for name, value in variables.items():
            command = command.replace(f'"${name}"', value)
        args = shlex.split(command)[1:]
        if args[:2] == ["report", "verify"]:
            args += ["--trust-root", str(paths["root"]), "--ca", str(paths["ca"]), "--at", AT]
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (command, err)
        ran += 1
        if target:
            variables[target] = out.strip()
        if args[0] == "manifest":  # the guest whose report the later commands read
            envelope = json.loads((tmp_path / "measurements.json").read_text())
            statement = json.loads(base64.b64decode(envelope["payload"]))
            entry = next(e for e in statement["predicate"]["measurements"]
                         if e["vmm_type"] == "QEMU" and e["vcpus"] == 7)
            (tmp_path / "report.bin").write_bytes(pki.report_for(
                h, measurement=bytes.fromhex(entry["measurement"])))
        if args[0] == "find":
            assert "vmm-type=QEMU vcpus=7 vcpu-type=EPYC-Milan" in out
        if args[:2] == ["report", "verify"]:
            assert "result: verified" in out
    assert ran == len(readme_commands()) > 20
    assert (tmp_path / "out" / "vmsa1.bin").is_file()
    assert sorted(p.name for p in (tmp_path / "id-blocks").iterdir())[-1] == "index.json"
