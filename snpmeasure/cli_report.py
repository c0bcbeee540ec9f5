"""``snpmeasure report show|verify``: attestation reports, offline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .cli import app
from .errors import ConfigError, SignatureError, VerificationError

report_app = typer.Typer(help="Decode and verify SEV-SNP attestation reports, offline.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(report_app, name="report")

EXIT_CODES = {"verified": 0, "mismatch": VerificationError.exit_code,
              "signature-invalid": SignatureError.exit_code}
OPT_PRODUCT = typer.Option(None, "--product", metavar="Milan|Genoa|Turin",
                           help="Processor family for decoding TCB versions (default: from the "
                                "report's CPUID fields or the VCEK).")


def _product(name: Optional[str]) -> Optional[str]:
    if name is None:
        return None
    for known in ("Milan", "Genoa", "Turin"):
        if known.lower() == name.strip().lower():
            return known
    raise ConfigError(f"--product {name!r} is not Milan, Genoa or Turin")


@report_app.command("show")
def show_command(
    file: Path = typer.Argument(..., metavar="FILE", help="Report: binary, hex or base64."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    product: Optional[str] = OPT_PRODUCT,
) -> None:
    """Print every field of an attestation report, decoded."""
    from .report import describe, load_report

    report = load_report(file)
    if json_output:
        print(json.dumps(report.to_json(_product(product)), indent=2))
    else:
        print(describe(report, _product(product)))


@report_app.command("verify")
def verify_command(
    file: Path = typer.Argument(..., metavar="FILE", help="Report: binary, hex or base64."),
    vcek: Optional[Path] = typer.Option(None, "--vcek", metavar="CERT",
                                        help="VCEK or VLEK certificate (PEM or DER)."),
    ca: Optional[Path] = typer.Option(None, "--ca", metavar="BUNDLE",
                                      help="AMD CA bundle: ASK (or ASVK) and ARK, PEM."),
    measurement: Optional[List[str]] = typer.Option(
        None, "--measurement", metavar="VALUE",
        help="An expected measurement (hex or base64); repeat for several."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", metavar="FILE",
                                            help="A manifest from 'snpmeasure manifest': the "
                                                 "measurement must be one of its entries."),
    host_data: Optional[str] = typer.Option(None, "--host-data", metavar="VALUE",
                                            help="Expected HOST_DATA (32 bytes, hex/base64)."),
    report_data: Optional[str] = typer.Option(None, "--report-data", metavar="VALUE",
                                              help="Expected REPORT_DATA (64 bytes)."),
    id_key: Optional[Path] = typer.Option(None, "--id-key", metavar="KEY",
                                          help="Expected ID key (key or certificate file)."),
    author_key: Optional[Path] = typer.Option(None, "--author-key", metavar="KEY",
                                              help="Expected author key (key file)."),
    id_key_digest: Optional[str] = typer.Option(None, "--id-key-digest", metavar="VALUE",
                                                help="Expected ID_KEY_DIGEST (48 bytes)."),
    author_key_digest: Optional[str] = typer.Option(None, "--author-key-digest",
                                                    metavar="VALUE",
                                                    help="Expected AUTHOR_KEY_DIGEST."),
    family_id: Optional[str] = typer.Option(None, "--family-id", metavar="ID",
                                            help="Expected family ID (hex or UUID)."),
    image_id: Optional[str] = typer.Option(None, "--image-id", metavar="ID",
                                           help="Expected image ID (hex or UUID)."),
    min_guest_svn: Optional[int] = typer.Option(None, "--min-guest-svn", metavar="N",
                                                help="Minimum guest SVN."),
    min_tcb: Optional[str] = typer.Option(None, "--min-tcb", metavar="LIST",
                                          help="Minimum reported TCB, e.g. "
                                               "bl=3,tee=0,snp=8,ucode=115."),
    policy: Optional[str] = typer.Option(None, "--policy", metavar="VALUE",
                                         help="Exact expected guest policy."),
    deny_debug: bool = typer.Option(False, "--deny-debug",
                                    help="Fail if the policy allows debugging."),
    deny_migrate_ma: bool = typer.Option(False, "--deny-migrate-ma",
                                         help="Fail if the policy allows a migration agent."),
    smt: Optional[str] = typer.Option(None, "--smt", metavar="on|off",
                                      help="Required value of the policy's SMT bit."),
    require_single_socket: bool = typer.Option(False, "--require-single-socket",
                                               help="Fail unless the policy is single-socket."),
    min_abi: Optional[str] = typer.Option(None, "--min-abi", metavar="MAJOR.MINOR",
                                          help="Minimum ABI version the policy requires."),
    vmpl: Optional[int] = typer.Option(None, "--vmpl", metavar="N",
                                       help="Expected VMPL of the report's requester."),
    product: Optional[str] = OPT_PRODUCT,
    json_output: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check a report: signature and AMD chain, and the expected measurement and fields.

    Exit codes: 0 verified, 6 does not match, 8 signature or chain invalid, 4 malformed input.
    """
    from .cli import parse_int
    from .idblock import parse_id16
    from .keys import key_digest, load_public_key
    from .report import Expectations, load_report, parse_min_tcb, verify_report
    from .report_input import parse_bytes_value, parse_measurement

    report = load_report(file)
    if id_key is not None and id_key_digest is not None:
        raise ConfigError("give --id-key or --id-key-digest, not both")
    if author_key is not None and author_key_digest is not None:
        raise ConfigError("give --author-key or --author-key-digest, not both")
    id_digest = key_digest(load_public_key(id_key, flag="ID key")) if id_key else (
        parse_bytes_value(id_key_digest, 48, "--id-key-digest") if id_key_digest else None)
    author_digest = key_digest(load_public_key(author_key, flag="author key")) if author_key \
        else (parse_bytes_value(author_key_digest, 48, "--author-key-digest")
              if author_key_digest else None)
    abi = None
    if min_abi is not None:
        try:
            major, minor = (int(part) for part in min_abi.split("."))
        except ValueError:
            raise ConfigError(f"--min-abi {min_abi!r} is not MAJOR.MINOR") from None
        abi = (major, minor)
    smt_value = None
    if smt is not None:
        if smt.lower() not in ("on", "off"):
            raise ConfigError(f"--smt {smt!r} is not on or off")
        smt_value = smt.lower() == "on"
    expectations = Expectations(
        measurements=tuple(parse_measurement(m) for m in measurement or ()),
        manifest=str(manifest) if manifest else None,
        host_data=parse_bytes_value(host_data, 32, "--host-data") if host_data else None,
        report_data=parse_bytes_value(report_data, 64, "--report-data") if report_data else None,
        id_key_digest=id_digest, author_key_digest=author_digest,
        family_id=parse_id16(family_id, "--family-id") if family_id else None,
        image_id=parse_id16(image_id, "--image-id") if image_id else None,
        min_guest_svn=min_guest_svn,
        min_tcb=parse_min_tcb(min_tcb) if min_tcb else None,
        policy=parse_int("--policy", policy), deny_debug=deny_debug,
        deny_migrate_ma=deny_migrate_ma, smt=smt_value,
        require_single_socket=require_single_socket, min_abi=abi, vmpl=vmpl)
    result = verify_report(report, vcek, ca, expectations, _product(product))
    if json_output:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for check in result.checks:
            print(f"{check.status.upper():<5} {check.name:<20} {check.detail}")
        print(f"result: {result.status}")
    if result.status != "verified":
        raise typer.Exit(EXIT_CODES[result.status])
