"""``snpmeasure report show|verify``: attestation reports, offline."""
from __future__ import annotations

import json

from ..errors import ConfigError, SignatureError, VerificationError
from .console import error
from .evidence import nonce_from, report_data_from
from .values import bounded_int

EXIT_CODES = {"verified": 0, "mismatch": VerificationError.exit_code,
              "not-authenticated": SignatureError.exit_code}


def _product(name: str | None) -> str | None:
    if name is None:
        return None
    from ..abi.products import canonical_product

    known = canonical_product(name)
    if known is None:
        raise ConfigError(f"--product {name!r} is not Milan, Genoa or Turin")
    return known


def parse_min_tcb(text: str) -> dict:
    """``boot_loader=3,tee=0,snp=8,microcode=115`` (short names bl, ucode accepted)."""
    aliases = {"bl": "boot_loader", "ucode": "microcode"}
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise ConfigError(f"--min-tcb item {item!r} is not NAME=VALUE")
        name, value = (part.strip() for part in item.split("=", 1))
        name = aliases.get(name, name)
        if name not in ("boot_loader", "tee", "snp", "microcode", "fmc"):
            raise ConfigError(f"--min-tcb component {name!r} is not boot_loader, tee, snp, "
                              "microcode or fmc")
        out[name] = bounded_int(f"--min-tcb {name}", value, 0, 255)
    return out


def _exact_policy(text: str | None) -> int | None:
    """--policy of report verify: a policy a guest can have (bit 17 set, reserved bits 0)."""
    from ..attestation.policy import check_policy

    policy = bounded_int("--policy", text, 0, 2**64 - 1)
    return None if policy is None else check_policy(policy)


def describe(report, product: str | None = None) -> str:
    """The readable form of ``report.to_json()``: one field per line."""
    data = report.to_json(product)
    lines = []
    for name, value in data.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items())
            lines.append(f"{name:<22} {inner}")
        elif value is None:
            lines.append(f"{name:<22} (not in report version {data['version']})")
        else:
            lines.append(f"{name:<22} {value}")
    return "\n".join(lines)



def run_show(values: dict) -> None:
    from ..formats.report import load_report

    report = load_report(values["file"])
    product = _product(values["product"])
    if values["json_output"]:
        print(json.dumps(report.to_json(product), indent=2))
    else:
        print(describe(report, product))


def _v2_product(values: dict, report) -> str:
    """The product of a version 2 report for a cache lookup: named by the --vcek or --certs
    certificate (which verification then checks), else --product is needed."""
    from ..errors import ConfigError
    from ..formats.certificates import certificate_product, load_certificates

    for path in [values["vcek"]] if values["vcek"] else []:
        for cert in load_certificates(path):
            if certificate_product(cert):
                return certificate_product(cert)
    raise ConfigError(f"{values['file']}: a version 2 report carries no CPUID; give --product "
                      "to look it up in --cache")


def _manifest_keys(v: dict) -> tuple:
    from ..formats.keys import SIGNING_KEYS, load_public_key

    if v["manifest_key"] and not v["manifest"]:
        raise ConfigError("--manifest-key needs --manifest")
    return tuple(load_public_key(path, flag="--manifest-key", accept=SIGNING_KEYS)
                 for path in v["manifest_key"] or ())


def run_verify(values: dict) -> int:
    from ..attestation.verify import (Expectations, authenticity_failed, load_collateral,
                                      parse_time, verify_report)
    from ..formats.encoding import parse_bytes_value, parse_digest, parse_id16
    from ..formats.keys import key_digest, load_public_key
    from ..formats.report import load_report
    from ..text import printable

    v = values
    report = load_report(v["file"])
    if v["id_key"] is not None and v["id_key_digest"] is not None:
        raise ConfigError("give --id-key or --id-key-digest, not both")
    if v["author_key"] is not None and v["author_key_digest"] is not None:
        raise ConfigError("give --author-key or --author-key-digest, not both")
    id_digest = key_digest(load_public_key(v["id_key"], flag="ID key")) if v["id_key"] else (
        parse_bytes_value(v["id_key_digest"], 48, "--id-key-digest") if v["id_key_digest"]
        else None)
    author_digest = key_digest(load_public_key(v["author_key"], flag="author key")) \
        if v["author_key"] else (
            parse_bytes_value(v["author_key_digest"], 48, "--author-key-digest")
            if v["author_key_digest"] else None)
    abi = None
    if v["min_abi"] is not None:
        parts = v["min_abi"].split(".")
        if len(parts) != 2 or not all(part.isascii() and part.isdigit() for part in parts):
            raise ConfigError(f"--min-abi {v['min_abi']!r} is not MAJOR.MINOR")
        abi = (bounded_int("--min-abi major", parts[0], 0, 255),
               bounded_int("--min-abi minor", parts[1], 0, 255))
    smt = None
    if v["smt"] is not None:
        if v["smt"].lower() not in ("on", "off"):
            raise ConfigError(f"--smt {v['smt']!r} is not on or off")
        smt = v["smt"].lower() == "on"
    expectations = Expectations(
        measurements=tuple(parse_digest(m) for m in v["measurement"] or ()),
        manifests=tuple(v["manifest"] or ()),
        manifest_keys=_manifest_keys(v),
        host_data=parse_bytes_value(v["host_data"], 32, "--host-data") if v["host_data"]
        else None,
        report_data=report_data_from(v, required=False, pad=False),
        nonce=nonce_from(v),
        id_key_digest=id_digest, author_key_digest=author_digest,
        family_id=parse_id16(v["family_id"], "--family-id") if v["family_id"] else None,
        image_id=parse_id16(v["image_id"], "--image-id") if v["image_id"] else None,
        min_guest_svn=bounded_int("--min-guest-svn", v["min_guest_svn"], 0, 0xFFFFFFFF),
        min_tcb=parse_min_tcb(v["min_tcb"]) if v["min_tcb"] else None,
        policy=_exact_policy(v["policy"]), deny_debug=v["deny_debug"],
        deny_migrate_ma=v["deny_migrate_ma"], smt=smt,
        require_single_socket=v["require_single_socket"], min_abi=abi,
        vmpl=bounded_int("--vmpl", v["vmpl"], 0, 3))
    cache = ()
    if v["cache"] is not None:
        from ..collateral.cache import lookup
        cache = (lookup(v["cache"], report, _product(v["product"])
                        or (report.product if report.version >= 3 else None)
                        or _v2_product(v, report)),)
    collateral = load_collateral(
        vcek=v["vcek"], ca=v["ca"] or (), certs=v["certs"] or (), cache=cache,
        trust_roots=v["trust_root"] or (), crls=v["crl"] or (), require_crl=v["require_crl"],
        at=parse_time(v["at"]) if v["at"] is not None else None,
        product=_product(v["product"]), allow_masked_chip_id=v["allow_masked_chip_id"])
    result = verify_report(report, collateral, expectations)
    if v["json_output"]:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for check in result.checks:
            print(f"{check.status.upper():<5} {check.name:<24} {printable(check.detail)}")
        anchor = result.authentication.anchor
        if anchor is not None:
            print(f"trust root: {printable(anchor.describe())}")
        print(f"result: {result.status}")
    code = EXIT_CODES[result.status]
    if code:
        import sys

        failed = authenticity_failed(result) or [c for c in result.checks
                                                 if c.status == "fail"]
        what = "not authenticated" if result.status == "not-authenticated" else \
            "does not meet the expectations"
        sys.stdout.flush()
        more = f"; and {len(failed) - 3} more (every check is on standard output)" \
            if len(failed) > 3 else ""
        error(f"{v['file']}: {what}: " + "; ".join(f"{c.name}: {c.detail}" for c in failed[:3])
              + more)
    return code
