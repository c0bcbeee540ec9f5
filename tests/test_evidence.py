"""report get against a directory tree that behaves like configfs-tsm.

The fake follows the kernel's documented ABI (Linux Documentation/ABI/testing/configfs-tsm-report,
formerly configfs-tsm; drivers/virt/coco/guest/report.c):

* mkdir of an entry under report/ creates its attributes (provider, generation, privlevel_floor,
  inblob, outblob, auxblob, privlevel), or fails with ENXIO when no provider is registered;
* every write to inblob or privlevel increments generation; privlevel below privlevel_floor or
  above 3 is EINVAL; an inblob of other than 64 bytes is EINVAL for sev_guest;
* outblob and auxblob hold the report and the certificate table for the last write;
* rmdir removes the entry with its attributes.
"""
from __future__ import annotations

import errno
import hashlib
import os

import pytest

import pki
from snpmeasure.cli.main import main
from snpmeasure.evidence import configfs
from snpmeasure.evidence.configfs import TsmFilesystem, get_report
from snpmeasure.errors import ConfigError, InputError, UnsupportedError
from snpmeasure.formats.cert_table import ARK_GUID, ASK_GUID, VCEK_GUID, build_cert_table


class FakeTsm(TsmFilesystem):
    """configfs-tsm over a real directory: attribute files appear on mkdir, writes react."""

    def __init__(self, provider="sev_guest", floor=0, certs=b"", hierarchy=None,
                 race=0, registered=True, deny=False):
        self.provider, self.floor, self.certs = provider, floor, certs
        self.hierarchy = hierarchy or pki.hierarchy("Genoa", seed=30)
        self.race = race              # how many reads of outblob see a concurrent write
        self.registered, self.deny = registered, deny
        self.entries = []

    def mkdir(self, path):
        if self.deny:
            raise PermissionError(errno.EACCES, "Permission denied")
        if not self.registered:
            raise OSError(errno.ENXIO, "No such device or address")
        os.mkdir(path)
        self.entries.append(path)
        for name, value in (("provider", f"{self.provider}\n"), ("generation", "0\n"),
                            ("privlevel_floor", f"{self.floor}\n"), ("outblob", ""),
                            ("auxblob", ""), ("inblob", ""), ("privlevel", "")):
            with open(os.path.join(path, name), "w") as handle:
                handle.write(value)

    def rmdir(self, path):
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)

    def _bump(self, entry):
        path = os.path.join(entry, "generation")
        value = int(open(path).read()) + 1
        with open(path, "w") as handle:
            handle.write(f"{value}\n")

    def write(self, path, data):
        entry, name = os.path.split(path)
        if name == "privlevel":
            level = int(data)
            if not self.floor <= level <= 3:
                raise OSError(errno.EINVAL, "Invalid argument")
        if name == "inblob" and len(data) != 64:
            raise OSError(errno.EINVAL, "Invalid argument")
        super().write(path, data)
        self._bump(entry)
        inblob = open(os.path.join(entry, "inblob"), "rb").read()
        report = pki.report_for(self.hierarchy, report_data=inblob)
        super().write(os.path.join(entry, "outblob"), report)
        super().write(os.path.join(entry, "auxblob"), self.certs)

    def read(self, path, limit=configfs.MAX_BLOB):
        entry, name = os.path.split(path)
        if name == "outblob" and self.race:
            self.race -= 1
            self._bump(entry)   # another process wrote in between
        return super().read(path, limit)


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "tsm" / "report"
    path.mkdir(parents=True)
    return path


def test_a_report_is_requested_and_the_entry_removed(root):
    fake = FakeTsm()
    data = bytes(range(64))
    evidence = get_report(data, root=str(root), fs=fake, vmpl=1)
    assert evidence.report.fields["report_data"] == data
    assert evidence.provider == "sev_guest" and evidence.attempts == 1
    assert evidence.certificates == b""
    assert os.listdir(root) == [] and len(fake.entries) == 1


def test_a_generation_change_mid_read_restarts_the_request(root):
    evidence = get_report(bytes(64), root=str(root), fs=FakeTsm(race=2))
    assert evidence.attempts == 3
    with pytest.raises(InputError, match="another process"):
        get_report(bytes(64), root=str(root), fs=FakeTsm(race=5))
    assert os.listdir(root) == []


def test_refusals(root, tmp_path):
    with pytest.raises(UnsupportedError, match="not an SEV-SNP guest"):
        get_report(bytes(64), root=str(root), fs=FakeTsm(provider="tdx_guest"))
    with pytest.raises(UnsupportedError, match="no TSM provider"):
        get_report(bytes(64), root=str(root), fs=FakeTsm(registered=False))
    with pytest.raises(InputError, match="permission denied"):
        get_report(bytes(64), root=str(root), fs=FakeTsm(deny=True))
    with pytest.raises(UnsupportedError, match="configfs-tsm is not available"):
        get_report(bytes(64), root=str(tmp_path / "absent"), fs=FakeTsm())
    with pytest.raises(ConfigError, match="privlevel_floor, is 2"):
        get_report(bytes(64), root=str(root), fs=FakeTsm(floor=2), vmpl=1)
    with pytest.raises(ConfigError):
        get_report(bytes(63), root=str(root), fs=FakeTsm())
    assert os.listdir(root) == []


def test_cli_report_get_writes_report_and_certificates(root, tmp_path, capsys, monkeypatch):
    h = pki.hierarchy("Genoa", seed=31)
    table = build_cert_table([(VCEK_GUID, pki.der(h.vcek)), (ASK_GUID, pki.der(h.ask)),
                              (ARK_GUID, pki.der(h.ark))])
    monkeypatch.setattr(configfs, "TsmFilesystem", lambda: FakeTsm(certs=table, hierarchy=h))
    nonce = "a1b2c3d4" * 8
    report, certs = tmp_path / "report.bin", tmp_path / "certs.bin"
    assert main(["report", "get", "--configfs", str(root), "--nonce-hex", nonce, "-o",
                 str(report), "--certs-out", str(certs)]) == 0
    assert capsys.readouterr().out == ""
    raw = report.read_bytes()
    assert len(raw) == 1184 and certs.read_bytes() == table
    assert raw[0x50:0x90] == hashlib.sha512(bytes.fromhex(nonce)).digest()
    # the verifier checks it with the same nonce and the host's table
    (tmp_path / "root.pem").write_bytes(pki.pem(h.ark))
    verify = ["report", "verify", str(report), "--certs", str(certs), "--trust-root",
              str(tmp_path / "root.pem"), "--at", pki.NOW.isoformat()]
    assert main(verify + ["--nonce-hex", nonce]) == 0
    assert main(verify + ["--nonce-hex", "00" + nonce[2:]]) == 6
    capsys.readouterr()
    # hex to stdout, and a short --report-data zero-padded
    assert main(["report", "get", "--configfs", str(root), "--report-data", "cafe"]) == 0
    out = bytes.fromhex(capsys.readouterr().out.strip())
    assert out[0x50:0x90] == b"\xca\xfe" + bytes(62)
    # --nonce FILE
    (tmp_path / "nonce").write_bytes(b"fresh nonce")
    assert main(["report", "get", "--configfs", str(root), "--nonce", str(tmp_path / "nonce"),
                 "--output-format", "base64"]) == 0
    import base64
    raw = base64.b64decode(capsys.readouterr().out)
    assert raw[0x50:0x90] == hashlib.sha512(b"fresh nonce").digest()


def test_cli_report_get_errors(root, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(configfs, "TsmFilesystem", lambda: FakeTsm(provider="tdx_guest"))
    cases = [
        (["--nonce-hex", "00"], 5),
        (["--configfs", str(tmp_path / "nowhere"), "--nonce-hex", "00"], 5),
        ([], 2),
        (["--nonce-hex", "zz"], 2),
        (["--nonce-hex", "00", "--report-data", "00"], 2),
        (["--report-data", "00" * 65], 2),
        (["--nonce-hex", "00", "--vmpl", "4"], 2),
    ]
    for args, code in cases:
        full = ["report", "get", *args]
        if "--configfs" not in args:
            full += ["--configfs", str(root)]
        assert main(full) == code, args
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("snpmeasure: error: ") and err.count("\n") == 1
    monkeypatch.setattr(configfs, "TsmFilesystem", lambda: FakeTsm())
    existing = tmp_path / "exists.bin"
    existing.write_bytes(b"keep")
    assert main(["report", "get", "--configfs", str(root), "--nonce-hex", "00", "-o",
                 str(existing)]) == 7
    assert existing.read_bytes() == b"keep"
    assert main(["report", "get", "--configfs", str(root), "--nonce-hex", "00", "-o",
                 str(tmp_path / "a"), "--certs-out", str(tmp_path / "a")]) == 2
    capsys.readouterr()
    # no certificate table from the host: a warning, and no file
    assert main(["report", "get", "--configfs", str(root), "--nonce-hex", "00", "-o",
                 str(tmp_path / "r.bin"), "--certs-out", str(tmp_path / "c.bin")]) == 0
    assert "no certificate table" in capsys.readouterr().err
    assert (tmp_path / "r.bin").exists() and not (tmp_path / "c.bin").exists()
    # an ordinary directory: an entry made there has no attributes, so it is not configfs-tsm
    monkeypatch.undo()   # the real filesystem access, no fake
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["report", "get", "--configfs", str(plain), "--nonce-hex", "00"]) == 5
    out, err = capsys.readouterr()
    assert out == "" and f"{plain}: not a configfs-tsm report directory" in err
    assert list(plain.iterdir()) == []   # the entry it made is gone


def test_the_default_configfs_path_is_the_kernels():
    from snpmeasure.cli.options import REPORT_GET

    default = next(opt.default for opt in REPORT_GET.options if opt.dest == "configfs")
    assert configfs.DEFAULT_ROOT == default == "/sys/kernel/config/tsm/report"
