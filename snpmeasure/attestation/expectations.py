"""Expectations: what a verifier requires of an authenticated report (measurement, IDs, key
digests, SVN, TCB, policy, VMPL), each turned into a check."""
from __future__ import annotations

from dataclasses import dataclass

from ..abi.policy import decode_policy
from ..formats.manifest import manifest_measurements
from .check import Check


@dataclass(frozen=True)
class Expectations:
    measurements: tuple[bytes, ...] = ()
    manifest: str | None = None
    host_data: bytes | None = None
    report_data: bytes | None = None
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


def expectation_checks(result, e: Expectations, product: str | None) -> None:
    """Append a check to ``result.checks`` (a ``verify.VerifyResult``) for each expectation."""
    f = result.report.fields
    checks = result.checks

    def equal(name, expected, actual):
        if expected is None:
            return
        ok = expected == actual
        checks.append(Check(name, "pass" if ok else "fail",
                            f"{actual.hex()}" + ("" if ok else f" (expected {expected.hex()})")))

    measurement = f["measurement"]
    if e.measurements or e.manifest:
        expected = set(e.measurements)
        if e.manifest:
            for entry in manifest_measurements(e.manifest):
                if bytes.fromhex(entry["measurement"]) == measurement:
                    result.matched_manifest_entries.append(entry)
        ok = measurement in expected or bool(result.matched_manifest_entries)
        detail = measurement.hex()
        if result.matched_manifest_entries:
            first = result.matched_manifest_entries[0]
            detail += " matches manifest entry " + ", ".join(
                f"{k}={v}" for k, v in first.items() if k != "measurement" and v is not None)
        elif not ok:
            detail += " is not an expected value"
        checks.append(Check("measurement", "pass" if ok else "fail", detail))
    equal("host_data", e.host_data, f["host_data"])
    equal("report_data", e.report_data, f["report_data"])
    equal("id_key_digest", e.id_key_digest, f["id_key_digest"])
    if e.author_key_digest is not None:
        equal("author_key_digest", e.author_key_digest, f["author_key_digest"])
        enabled = bool(f["key_info"] & 1)
        checks.append(Check("author key enabled", "pass" if enabled else "fail",
                            "AUTHOR_KEY_EN is set" if enabled else "AUTHOR_KEY_EN is clear"))
    equal("family_id", e.family_id, f["family_id"])
    equal("image_id", e.image_id, f["image_id"])
    if e.min_guest_svn is not None:
        ok = f["guest_svn"] >= e.min_guest_svn
        checks.append(Check("guest_svn", "pass" if ok else "fail",
                            f"{f['guest_svn']} (minimum {e.min_guest_svn})"))
    if e.min_tcb is not None:
        tcb = result.report.tcb(f["reported_tcb"], product)
        low = [f"{k} {tcb.get(k)} < {v}" for k, v in e.min_tcb.items()
               if k not in tcb or tcb[k] < v]
        checks.append(Check("reported_tcb", "fail" if low else "pass",
                            "; ".join(low) or ", ".join(f"{k}={v}" for k, v in tcb.items())))
    policy = f["policy"]
    if e.policy is not None:
        ok = policy == e.policy
        checks.append(Check("policy", "pass" if ok else "fail",
                            f"{policy:#x}" + ("" if ok else f" (expected {e.policy:#x})")))
    bits = decode_policy(policy)
    for flag, name, wanted in (("deny_debug", "debug", False),
                               ("deny_migrate_ma", "migrate_ma", False),
                               ("require_single_socket", "single_socket", True)):
        if getattr(e, flag):
            ok = bits[name] == wanted
            checks.append(Check(f"policy {name}", "pass" if ok else "fail",
                                f"{name} is {'on' if bits[name] else 'off'}"))
    if e.smt is not None:
        ok = bits["smt"] == e.smt
        checks.append(Check("policy smt", "pass" if ok else "fail",
                            f"SMT allowed is {'on' if bits['smt'] else 'off'}"))
    if e.min_abi is not None:
        have = (bits["abi_major"], bits["abi_minor"])
        ok = have >= e.min_abi
        checks.append(Check("policy abi", "pass" if ok else "fail",
                            f"minimum ABI {have[0]}.{have[1]} (required at least "
                            f"{e.min_abi[0]}.{e.min_abi[1]})"))
    if e.vmpl is not None:
        ok = f["vmpl"] == e.vmpl
        checks.append(Check("vmpl", "pass" if ok else "fail", f"{f['vmpl']}"))
