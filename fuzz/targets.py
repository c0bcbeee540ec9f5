"""Fuzz targets: each takes arbitrary bytes and may raise only snpmeasure's own errors.

Used by the atheris harness (``fuzz/run.py``, long runs) and by the hypothesis properties in
``tests/test_fuzz_properties.py`` (bounded runs in CI).
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings

from snpmeasure.errors import SnpMeasureError

TARGETS = {}


def target(function):
    TARGETS[function.__name__.removeprefix("fuzz_")] = function
    return function


def _tempfile(data: bytes, suffix: str = ".bin") -> str:
    fd, path = tempfile.mkstemp(prefix="snpmeasure-fuzz-", suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call(*args, **kwargs)
        except SnpMeasureError:
            return None


@target
def fuzz_firmware(data: bytes) -> None:
    """OVMF/SVSM parsing and every SNP, SEV and SEV-ES plan over the parsed image."""
    from snpmeasure.engine.snp import SnpLaunchDigest
    from snpmeasure.formats.firmware import parse_firmware
    from snpmeasure.launch.kernel_hashes import KernelHashes
    from snpmeasure.engine.measure import measure_inputs
    from snpmeasure.launch.config import MeasurementConfig
    from snpmeasure.launch.ovmf import LaunchInputs

    firmware = _quiet(parse_firmware, data, "fuzz.fd")
    if firmware is None:
        return
    hashes = KernelHashes(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    for mode, vmm, kernel in (("snp", "QEMU", False), ("snp", "ec2", True), ("snp", "gce", False),
                              ("seves", "QEMU", True), ("sev", "QEMU", True)):
        config = MeasurementConfig(mode=mode, ovmf="fuzz.fd", vcpus=2, vcpu_sig=0xA00F11,
                                   vmm_type=vmm, kernel="k" if kernel else None,
                                   host_checks=False)  # plans, not host rules
        inputs = LaunchInputs(config, firmware, hashes if kernel else None)
        result = _quiet(measure_inputs, inputs)
        assert result is None or len(result.digest) in (32, 48)
    assert len(SnpLaunchDigest().digest) == 48


@target
def fuzz_svsm(data: bytes) -> None:
    """An SVSM binary below the real OVMF (snp:svsm)."""
    from snpmeasure.formats.firmware import parse_firmware
    from snpmeasure import MeasurementConfig, measure

    if _quiet(parse_firmware, data, "svsm.bin", 0xFFC00000) is None:
        return
    path = _tempfile(data)
    try:
        ovmf = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "svsm_ovmf.fd")
        config = MeasurementConfig(mode="snp:svsm", ovmf=ovmf, svsm=path, vars_size=0x84000,
                                   vcpus=2, vcpu_type="EPYC")
        _quiet(measure, config)
    finally:
        os.unlink(path)


@target
def fuzz_igvm(data: bytes) -> None:
    """IGVM parsing, every loader and platform, explain and inspect."""
    from snpmeasure.analysis.explain import explain_igvm
    from snpmeasure.engine.igvm import measure_igvm
    from snpmeasure.launch.igvm import IgvmOptions
    from snpmeasure.analysis.inspect import inspect_igvm

    path = _tempfile(data, ".igvm")
    try:
        for options in (IgvmOptions(), IgvmOptions(loader="microsoft", native_zero=True),
                        IgvmOptions(check_kvm=True), IgvmOptions(platform="sev-es"),
                        IgvmOptions(loader="qemu", vcpus=2, vcpu_sig=0xA00F11),
                        IgvmOptions(loader="qemu", vcpus=3, vcpu_sig=0xA00F11,
                                    host_checks=False),
                        IgvmOptions(loader="qemu", vcpus=1, platform="sev-es",
                                    qemu_version="10.2", host_checks=False)):
            result = _quiet(measure_igvm, path, options)
            assert result is None or len(result.digest) in (32, 48)
        _quiet(explain_igvm, path, IgvmOptions())
        _quiet(explain_igvm, path, IgvmOptions(loader="qemu", vcpus=2, vcpu_sig=0xA00F11))
        _quiet(inspect_igvm, path)
    finally:
        os.unlink(path)


@target
def fuzz_report(data: bytes) -> None:
    """Attestation reports (binary, hex or base64) with every expectation checked."""
    from snpmeasure.attestation.verify import Collateral, Expectations, verify_report
    from snpmeasure.formats.report import decode_report_bytes, parse_report

    raw = _quiet(decode_report_bytes, data, "report")
    if raw is None:
        return
    report = _quiet(parse_report, raw, "report")
    if report is None:
        return
    json.dumps(report.to_json())
    result = verify_report(report, Collateral(), Expectations(
        measurements=(bytes(48),), host_data=bytes(32), min_tcb={"snp": 1}, deny_debug=True,
        smt=True, min_abi=(1, 0), vmpl=0, min_guest_svn=1))
    assert result.status == "not-authenticated"  # no certificate: never authenticated


@target
def fuzz_keys(data: bytes) -> None:
    """Keys and certificates in any encoding, ID blocks and ID_AUTH structures."""
    from snpmeasure.attestation.idblock import verify_id_auth
    from snpmeasure.formats.keys import load_private_key, load_public_key, public_key_from_sev
    from snpmeasure.formats.certificates import load_bundle, load_certificate

    from snpmeasure.attestation.verify import load_collateral, verify_report
    from snpmeasure.formats.report import load_report

    path = _tempfile(data, ".pem")
    try:
        for call in (load_private_key, load_public_key, load_certificate, load_bundle):
            _quiet(call, path)
        _quiet(load_private_key, path, b"passphrase")
        report = load_report(os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                          "reports", "report_milan.hex"))
        collateral = _quiet(load_collateral, vcek=path, ca=[path], trust_roots=[path])
        if collateral is not None:
            result = verify_report(report, collateral)
            assert result.status in ("verified", "mismatch", "not-authenticated")
    finally:
        os.unlink(path)
    _quiet(verify_id_auth, data[:96], data[96:96 + 4096], True)
    _quiet(public_key_from_sev, data[:0x404])


@target
def fuzz_cert_table(data: bytes) -> None:
    """Extended-report certificate tables (configfs-tsm auxblob) and CRLs, and a report verified
    with whatever they hold: never authenticated without a trusted root."""
    from snpmeasure.attestation.verify import load_collateral, verify_report
    from snpmeasure.formats.cert_table import parse_cert_table
    from snpmeasure.formats.certificates import parse_crl
    from snpmeasure.formats.report import load_report

    _quiet(parse_cert_table, data, "table")
    _quiet(parse_crl, data, "crl")
    path = _tempfile(data, ".bin")
    try:
        collateral = _quiet(load_collateral, certs=[path])
        if collateral is not None:
            report = load_report(os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                              "reports", "report_milan.hex"))
            result = verify_report(report, collateral)
            assert result.status in ("verified", "not-authenticated")
    finally:
        os.unlink(path)


@target
def fuzz_inputs(data: bytes) -> None:
    """Flag values and small inputs: command lines, lists, IDs, digests, manifests."""
    from snpmeasure.formats.encoding import parse_digest, parse_id16
    from snpmeasure.launch.kernel_hashes import cmdline_bytes
    from snpmeasure.cli.values import bool_list, cpu_type_list, int_list, vmm_type_list
    from snpmeasure.cli.report import parse_min_tcb
    from snpmeasure.formats.manifest import manifest_measurements as _manifest_measurements
    from snpmeasure.formats.encoding import parse_measurement

    text = data.decode("utf-8", "surrogateescape")
    assert cmdline_bytes(text).endswith(b"\x00")
    for call in (int_list, cpu_type_list, vmm_type_list, bool_list):
        _quiet(call, "--flag", text)
    for call in (parse_digest, parse_id16, parse_measurement):
        _quiet(call, text, "--flag")
    _quiet(parse_min_tcb, text)
    path = _tempfile(data, ".json")
    try:
        _quiet(_manifest_measurements, path)
    finally:
        os.unlink(path)


@target
def fuzz_dsse(data: bytes) -> None:
    """Signed and plain manifests: the DSSE envelope, the in-toto Statement, the manifest."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from snpmeasure.formats.manifest import parse_manifest

    key = ec.derive_private_key(7, ec.SECP256R1()).public_key()
    for keys in ((), (key,)):
        document = _quiet(parse_manifest, data, "fuzz.json", keys)
        assert document is None or isinstance(document["measurements"], list)


@target
def fuzz_corim(data: bytes) -> None:
    """CoRIMs, unsigned and COSE-signed: reading and signature checks."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from snpmeasure.publish.corim import corim_measurements, verify_corim

    measurements = _quiet(corim_measurements, data)
    assert measurements is None or all(len(m) == 48 for m in measurements)
    keys = [ec.derive_private_key(7, ec.SECP384R1()).public_key(),
            ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()]
    assert _quiet(verify_corim, data, keys) is None  # nothing here is signed by these keys


@target
def fuzz_configfs(data: bytes) -> None:
    """configfs-tsm as a hostile guest kernel could present it: provider, generation counter,
    outblob and auxblob contents, all taken from the input."""
    import errno

    from snpmeasure.evidence.configfs import get_report

    provider, _, rest = data.partition(b"\x00")  # provider NUL generation(2) length(2) out aux
    generation, size = rest[:2], int.from_bytes(rest[2:4], "little")
    outblob, auxblob = rest[4:4 + size], rest[4 + size:]

    class Fs:
        def __init__(self):
            self.generation = int.from_bytes(generation[:2] or b"\x00", "little")
            self.dirs = {"/tsm"}

        def isdir(self, path):
            return path in self.dirs or path.startswith("/tsm/")

        def exists(self, path):
            return not path.endswith("auxblob") or bool(auxblob)

        def mkdir(self, path):
            self.dirs.add(path)

        def rmdir(self, path):
            self.dirs.discard(path)

        def read(self, path, limit=1 << 20):
            name = path.rsplit("/", 1)[-1]
            if name == "provider":
                return provider[:limit]
            if name == "generation":
                return (str(self.generation).encode() if generation[:1] != b"x"
                        else generation)[:limit]
            if name == "privlevel_floor":
                return b"0"
            if name == "outblob":
                return outblob[:limit + 1]
            return auxblob[:limit + 1]

        def write(self, path, blob):
            if generation[:1] == b"e":
                raise OSError(errno.EBUSY, "busy")
            self.generation += 1

    evidence = _quiet(get_report, bytes(64), root="/tsm", fs=Fs(), attempts=2)
    assert evidence is None or evidence.report.fields["report_data"] == bytes(64)
