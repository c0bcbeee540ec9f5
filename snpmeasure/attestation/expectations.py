"""Expectations: what a verifier requires of an authenticated report (measurement, IDs, key
digests, SVN, TCB, policy, VMPL), each turned into a check."""
from __future__ import annotations

from dataclasses import dataclass

from ..abi.policy import decode_policy
from ..errors import SignatureError
from ..formats.manifest import manifest_measurements
from .check import AUTHENTICITY, NOTE, Check, failed, passed


@dataclass(frozen=True)
class Expectations:
    measurements: tuple[bytes, ...] = ()
    manifests: tuple[str, ...] = ()  # the measurement must be an entry of one of them
    manifest_keys: tuple = ()  # public keys; each manifest must then be signed by one of them
    host_data: bytes | None = None
    report_data: bytes | None = None  # 1 to 64 bytes; the rest of REPORT_DATA must be zero
    nonce: bytes | None = None  # the nonce report_data is the SHA-512 of (for hints only)
    id_key_digest: bytes | None = None
    author_key_digest: bytes | None = None
    family_id: bytes | None = None
    image_id: bytes | None = None
    min_guest_svn: int | None = None
    min_tcb: dict | None = None
    policy: int | None = None
    deny_debug: bool = False
    deny_migrate_ma: bool = False
    smt: bool | None = None
    require_single_socket: bool = False
    min_abi: tuple[int, int] | None = None
    vmpl: int | None = None


def _shown(value) -> str:
    """A value as the command line spells it: on/off for booleans."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _check(ok: bool, name: str, reason: str, detail: str) -> Check:
    return passed(name, detail) if ok else failed(name, reason, detail)


def _report_data_hint(actual: bytes, e: Expectations) -> str:
    """Why REPORT_DATA may differ from what was given: the guest put the nonce itself, or its
    SHA-512, or more than the given prefix."""
    import hashlib

    given = e.report_data
    if e.nonce and actual[:len(e.nonce)] == e.nonce and not any(actual[len(e.nonce):]):
        return ("; REPORT_DATA holds the nonce itself, not its SHA-512: give it with "
                "--report-data")
    if e.nonce is None and actual == hashlib.sha512(given).digest():
        return "; REPORT_DATA is the SHA-512 of the given bytes: give them with --nonce-hex"
    if e.nonce is None and len(given) < 64 and actual[:len(given)] == given:
        return (f"; the first {len(given)} bytes match, the other {64 - len(given)} are not "
                "zero")
    return ""


def expectation_checks(result, e: Expectations, product: str | None) -> None:
    """Append a check to ``result.checks`` (a ``verify.VerifyResult``) for each expectation."""
    f = result.report.fields
    checks = result.checks

    def equal(name, expected, actual):
        if expected is None:
            return
        ok = expected == actual
        checks.append(_check(ok, name, "value_mismatch", f"{actual.hex()}"
                             + ("" if ok else f" (expected {expected.hex()})")))

    measurement = f["measurement"]
    if e.measurements or e.manifests:
        expected = set(e.measurements)
        unread = []
        for path in e.manifests:
            try:
                entries = manifest_measurements(path, e.manifest_keys)
            except SignatureError as exc:  # the verdict is then not-authenticated (exit 8)
                checks.append(failed("manifest_signature", "manifest_not_trusted", str(exc),
                                     AUTHENTICITY))
                unread.append(path)
                continue
            result.matched_manifest_entries += [
                entry for entry in entries if bytes.fromhex(entry["measurement"]) == measurement]
        ok = measurement in expected or bool(result.matched_manifest_entries)
        detail = measurement.hex()
        if result.matched_manifest_entries:
            first, *others = result.matched_manifest_entries
            detail += " matches manifest entry " + ", ".join(  # spelt as the options are
                f"{k.replace('_', '-')}={_shown(v)}" for k, v in first.items()
                if k != "measurement" and v is not None)
            if others:  # configurations that differ only where the measurement cannot tell
                detail += (f" and {len(others)} other {'entry' if len(others) == 1 else 'entries'}"
                           " with the same value (--json lists them all)")
        elif not ok and unread:
            detail += (f" is not an expected value ({', '.join(unread)} not read: "
                       "see manifest_signature)")
        elif not ok:
            detail += (" is not an expected value; 'snpmeasure find --report REPORT --ovmf "
                       "FIRMWARE' searches the configurations that give it")
        checks.append(_check(ok, "measurement", "measurement_mismatch", detail))
        if e.manifests and not e.manifest_keys and not unread:
            checks.append(Check("manifest_signature", NOTE, "the manifest is not signed, so "
                                "whoever can change the file chooses the values; sign it "
                                "(manifest --sign) and give --manifest-key"))
    else:
        checks.append(Check("measurement", NOTE, f"{measurement.hex()} not checked: no "
                            "--measurement or --manifest, so the report is authentic but what "
                            "the guest runs is not known"))
    equal("host_data", e.host_data, f["host_data"])
    if e.report_data is not None:
        size = len(e.report_data)
        actual = f["report_data"]
        ok = actual[:size] == e.report_data and not any(actual[size:])
        shorter = "" if size == 64 else f" (the given {size} bytes, then zeros)"
        checks.append(_check(ok, "report_data", "value_mismatch", f"{actual.hex()}"
                             + ("" if ok else f" (expected {e.report_data.hex()}{shorter}"
                                f"{_report_data_hint(actual, e)})")))
    equal("id_key_digest", e.id_key_digest, f["id_key_digest"])
    if e.author_key_digest is not None:
        equal("author_key_digest", e.author_key_digest, f["author_key_digest"])
        enabled = bool(f["key_info"] & 1)
        checks.append(_check(enabled, "author_key_enabled", "value_mismatch",
                             "AUTHOR_KEY_EN is set" if enabled else "AUTHOR_KEY_EN is clear"))
    equal("family_id", e.family_id, f["family_id"])
    equal("image_id", e.image_id, f["image_id"])
    if e.min_guest_svn is not None:
        checks.append(_check(f["guest_svn"] >= e.min_guest_svn, "guest_svn", "below_minimum",
                             f"{f['guest_svn']} (minimum {e.min_guest_svn})"))
    if e.min_tcb is not None:
        tcb = result.report.tcb(f["reported_tcb"], product)
        low = [f"{k} {tcb.get(k, 'absent')} < {v}" if k in tcb else
               f"{k} is not a component of {product or 'this product'}'s TCB"
               for k, v in e.min_tcb.items() if k not in tcb or tcb[k] < v]
        checks.append(_check(not low, "reported_tcb", "below_minimum", "; ".join(low)
                             or ", ".join(f"{k}={v}" for k, v in tcb.items())))
    policy = f["policy"]
    if e.policy is not None:
        ok = policy == e.policy
        checks.append(_check(ok, "policy", "value_mismatch", f"{policy:#x}"
                             + ("" if ok else f" (expected {e.policy:#x})")))
    bits = decode_policy(policy)
    for flag, name, wanted in (("deny_debug", "debug", False),
                               ("deny_migrate_ma", "migrate_ma", False),
                               ("require_single_socket", "single_socket", True)):
        if getattr(e, flag):
            ok = bits[name] == wanted
            checks.append(_check(ok, f"policy_{name}", "policy_violation",
                                 f"{name} is {_shown(bits[name])}"
                                 + ("" if ok else f" (expected {_shown(wanted)})")))
    if e.smt is not None:
        ok = bits["smt"] == e.smt
        checks.append(_check(ok, "policy_smt", "policy_violation",
                             f"SMT allowed is {_shown(bits['smt'])}"
                             + ("" if ok else f" (expected {_shown(e.smt)})")))
    if e.min_abi is not None:
        have = (bits["abi_major"], bits["abi_minor"])
        checks.append(_check(have >= e.min_abi, "policy_abi", "below_minimum",
                             f"minimum ABI {have[0]}.{have[1]} (required at least "
                             f"{e.min_abi[0]}.{e.min_abi[1]})"))
    if e.vmpl is not None:
        checks.append(_check(f["vmpl"] == e.vmpl, "vmpl", "value_mismatch",
                             f"{f['vmpl']}" + ("" if f["vmpl"] == e.vmpl
                                               else f" (expected {e.vmpl})")))
