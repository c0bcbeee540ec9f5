"""The snpmeasure command line: arguments in, library calls, results out, errors to exit codes.

Every error the library foresees is printed as one line, ``snpmeasure: error: ...``, on stderr
with the exit code of its class (README, "Exit codes"); nothing is printed on stdout then.
Anything else is a bug: exit code 1, and a traceback only with ``--debug``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .commands import build_config, parse_int, run_measure  # noqa: F401 (used by other modules)
from .errors import ConfigError
from .main import PROG, error

EXIT_USAGE = 2

app = typer.Typer(
    name=PROG,
    help="Expected launch measurements of AMD SEV, SEV-ES and SEV-SNP guests.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        print(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug",
                               help="Show a traceback when snpmeasure fails on a bug."),
) -> None:
    _state["debug"] = debug


# Options shared by every command that takes a launch configuration (defined once).
OPT_MODE = typer.Option(..., "--mode", metavar="MODE",
                        help="Guest mode: sev, seves, snp, snp:ovmf-hash or snp:svsm.")
OPT_VCPUS = typer.Option(None, "--vcpus", metavar="N", help="Number of guest vCPUs.")
OPT_VCPU_TYPE = typer.Option(None, "--vcpu-type", metavar="CPUTYPE",
                             help="QEMU CPU model of the vCPUs (EPYC, EPYC-v4, EPYC-Milan, "
                                  "EPYC-Genoa-v2, EPYC-Turin, ...; any case).")
OPT_VCPU_SIG = typer.Option(None, "--vcpu-sig", metavar="VALUE",
                            help="vCPU signature (CPUID 1 EAX), e.g. 0xa00f11.")
OPT_VCPU_FAMILY = typer.Option(None, "--vcpu-family", metavar="FAMILY", help="vCPU family.")
OPT_VCPU_MODEL = typer.Option(None, "--vcpu-model", metavar="MODEL", help="vCPU model.")
OPT_VCPU_STEPPING = typer.Option(None, "--vcpu-stepping", metavar="STEPPING",
                                 help="vCPU stepping.")
OPT_VMM_TYPE = typer.Option("QEMU", "--vmm-type", metavar="VMMTYPE",
                            help="Host VMM: QEMU, ec2 or gce (any case).")
OPT_OVMF = typer.Option(..., "--ovmf", metavar="PATH", help="OVMF firmware image.")
OPT_KERNEL = typer.Option(None, "--kernel", metavar="PATH",
                          help="Kernel for measured direct boot (QEMU -kernel).")
OPT_INITRD = typer.Option(None, "--initrd", metavar="PATH", help="Initrd (needs --kernel).")
OPT_APPEND = typer.Option(None, "--append", metavar="CMDLINE",
                          help="Kernel command line (needs --kernel).")
OPT_GUEST_FEATURES = typer.Option(None, "--guest-features", metavar="VALUE",
                                  help="SEV_FEATURES of the SNP VMSAs (default 0x1).")
OPT_LEGACY = typer.Option(None, "--legacy-vm-type/--no-legacy-vm-type",
                          help="QEMU's legacy-vm-type: KVM's legacy init leaves the VMSA FPU "
                               "state (mxcsr, x87_fcw) zero. Default: off for seves and snp, "
                               "on for snp:svsm.")
OPT_OVMF_HASH = typer.Option(None, "--snp-ovmf-hash", metavar="HASH",
                             help="Precalculated hash of the OVMF pages (hex, from "
                                  "--mode snp:ovmf-hash); the OVMF pages are not rehashed.")
OPT_SVSM = typer.Option(None, "--svsm", metavar="PATH", help="COCONUT-SVSM binary (snp:svsm).")
OPT_VARS_SIZE = typer.Option(None, "--vars-size", metavar="SIZE",
                             help="Size of the OVMF_VARS file in bytes (snp:svsm).")
OPT_VARS_FILE = typer.Option(None, "--vars-file", metavar="PATH",
                             help="OVMF_VARS file, whose size is used (snp:svsm).")
OPT_FORCE = typer.Option(False, "--force", help="Replace output files that already exist.")


@app.command("measure")
def measure_command(
    mode: str = OPT_MODE,
    vcpus: Optional[int] = OPT_VCPUS,
    vcpu_type: Optional[str] = OPT_VCPU_TYPE,
    vcpu_sig: Optional[str] = OPT_VCPU_SIG,
    vcpu_family: Optional[str] = OPT_VCPU_FAMILY,
    vcpu_model: Optional[str] = OPT_VCPU_MODEL,
    vcpu_stepping: Optional[str] = OPT_VCPU_STEPPING,
    vmm_type: str = OPT_VMM_TYPE,
    ovmf: str = OPT_OVMF,
    kernel: Optional[str] = OPT_KERNEL,
    initrd: Optional[str] = OPT_INITRD,
    append: Optional[str] = OPT_APPEND,
    guest_features: Optional[str] = OPT_GUEST_FEATURES,
    legacy_vm_type: Optional[bool] = OPT_LEGACY,
    output_format: str = typer.Option("hex", "--output-format", metavar="hex|base64",
                                      help="Measurement output format."),
    snp_ovmf_hash: Optional[str] = OPT_OVMF_HASH,
    dump_vmsa: bool = typer.Option(False, "--dump-vmsa",
                                   help="Write the measured VMSAs to vmsa<N>.bin in the current "
                                        "directory (or in --vmsa-dir)."),
    vmsa_dir: Optional[Path] = typer.Option(None, "--vmsa-dir", metavar="DIR",
                                            help="Write the measured VMSAs to DIR/vmsa<N>.bin "
                                                 "(implies --dump-vmsa)."),
    svsm: Optional[str] = OPT_SVSM,
    vars_size: Optional[str] = OPT_VARS_SIZE,
    vars_file: Optional[str] = OPT_VARS_FILE,
    verbose: bool = typer.Option(False, "-v", "--verbose",
                                 help="Print 'Calculated <MODE> guest measurement: <value>'."),
    force: bool = OPT_FORCE,
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Compute the expected launch measurement (the flags of sev-snp-measure 0.0.13)."""
    run_measure(
        mode=mode, ovmf=ovmf, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig,
        vcpu_family=vcpu_family, vcpu_model=vcpu_model, vcpu_stepping=vcpu_stepping,
        vmm_type=vmm_type, kernel=kernel, initrd=initrd, append=append,
        guest_features=guest_features, legacy_vm_type=legacy_vm_type,
        output_format=output_format, snp_ovmf_hash=snp_ovmf_hash, dump_vmsa=dump_vmsa,
        vmsa_dir=vmsa_dir, svsm=svsm, vars_size=vars_size, vars_file=vars_file,
        verbose=verbose, force=force)


OPT_MODE_OPTIONAL = typer.Option(None, "--mode", metavar="MODE",
                                 help="Compute the launch digest in this call: guest mode "
                                      "(snp or snp:svsm) with the measure options.")
OPT_OVMF_OPTIONAL = typer.Option(None, "--ovmf", metavar="PATH",
                                 help="OVMF firmware image (with --mode).")


def _passphrase(env, file, what):
    from .keys import read_passphrase
    return read_passphrase(env, file, what)


@app.command("id-block")
def id_block_command(
    measurement: Optional[str] = typer.Option(
        None, "--measurement", metavar="VALUE",
        help="Launch digest to sign: 96 hex digits or base64 (sev-snp-measure's form)."),
    id_key: Optional[Path] = typer.Option(None, "--id-key", metavar="PATH",
                                          help="ID private key: EC P-384, PEM or DER."),
    idkey: Optional[Path] = typer.Option(None, "--idkey", metavar="PATH",
                                         help="Same as --id-key (sev-snp-measure spelling; "
                                              "selects its text output)."),
    author_key: Optional[Path] = typer.Option(None, "--author-key", metavar="PATH",
                                              help="Author private key: EC P-384, PEM or DER."),
    authorkey: Optional[Path] = typer.Option(None, "--authorkey", metavar="PATH",
                                             help="Same as --author-key (sev-snp-measure "
                                                  "spelling)."),
    id_key_passphrase_env: Optional[str] = typer.Option(
        None, "--id-key-passphrase-env", metavar="VAR",
        help="Environment variable holding the ID key's passphrase."),
    id_key_passphrase_file: Optional[Path] = typer.Option(
        None, "--id-key-passphrase-file", metavar="PATH",
        help="File whose first line is the ID key's passphrase."),
    author_key_passphrase_env: Optional[str] = typer.Option(
        None, "--author-key-passphrase-env", metavar="VAR",
        help="Environment variable holding the author key's passphrase."),
    author_key_passphrase_file: Optional[Path] = typer.Option(
        None, "--author-key-passphrase-file", metavar="PATH",
        help="File whose first line is the author key's passphrase."),
    family_id: Optional[str] = typer.Option(None, "--family-id", metavar="ID",
                                            help="Family ID: 32 hex digits or a UUID "
                                                 "(default zero)."),
    image_id: Optional[str] = typer.Option(None, "--image-id", metavar="ID",
                                           help="Image ID: 32 hex digits or a UUID "
                                                "(default zero)."),
    id_version: int = typer.Option(1, "--id-version", metavar="N",
                                   help="ID block version field (1)."),
    guest_svn: int = typer.Option(0, "--guest-svn", metavar="N", help="Guest SVN (0)."),
    policy: str = typer.Option("0x30000", "--policy", metavar="VALUE",
                               help="Guest policy as a number (QEMU's default 0x30000); the "
                                    "switches below change single bits of it."),
    abi_major: Optional[int] = typer.Option(None, "--abi-major", metavar="N",
                                            help="Policy: minimum ABI major version."),
    abi_minor: Optional[int] = typer.Option(None, "--abi-minor", metavar="N",
                                            help="Policy: minimum ABI minor version."),
    smt: Optional[bool] = typer.Option(None, "--smt/--no-smt", help="Policy bit 16: SMT allowed."),
    migrate_ma: Optional[bool] = typer.Option(None, "--migrate-ma/--no-migrate-ma",
                                              help="Policy bit 18: migration agent allowed."),
    allow_debug: Optional[bool] = typer.Option(None, "--allow-debug/--no-allow-debug",
                                               help="Policy bit 19: debugging allowed."),
    single_socket: Optional[bool] = typer.Option(None, "--single-socket/--no-single-socket",
                                                 help="Policy bit 20: single socket only."),
    cxl_allowed: Optional[bool] = typer.Option(None, "--cxl-allowed/--no-cxl-allowed",
                                               help="Policy bit 21: CXL allowed."),
    mem_aes_256_xts: Optional[bool] = typer.Option(None, "--mem-aes-256-xts/--no-mem-aes-256-xts",
                                                   help="Policy bit 22: require AES-256-XTS."),
    rapl_disable: Optional[bool] = typer.Option(None, "--rapl-disable/--no-rapl-disable",
                                                help="Policy bit 23: require RAPL disabled."),
    ciphertext_hiding: Optional[bool] = typer.Option(
        None, "--ciphertext-hiding/--no-ciphertext-hiding",
        help="Policy bit 24: require ciphertext hiding."),
    page_swap_disable: Optional[bool] = typer.Option(
        None, "--page-swap-disable/--no-page-swap-disable",
        help="Policy bit 25: disable page swap."),
    output_format: Optional[str] = typer.Option(
        None, "--output-format", metavar="qemu|json|peer",
        help="qemu: the sev-snp-guest properties (default); json: blocks, key digests and "
             "decoded fields; peer: sev-snp-measure's snp-create-id-block text (the default "
             "with --idkey/--authorkey)."),
    id_block_out: Optional[Path] = typer.Option(None, "--id-block-out", metavar="PATH",
                                                help="Also write the 96-byte ID block here."),
    id_auth_out: Optional[Path] = typer.Option(None, "--id-auth-out", metavar="PATH",
                                               help="Also write the 4096-byte ID_AUTH here."),
    force: bool = OPT_FORCE,
    mode: Optional[str] = OPT_MODE_OPTIONAL,
    ovmf: Optional[str] = OPT_OVMF_OPTIONAL,
    vcpus: Optional[int] = OPT_VCPUS,
    vcpu_type: Optional[str] = OPT_VCPU_TYPE,
    vcpu_sig: Optional[str] = OPT_VCPU_SIG,
    vcpu_family: Optional[str] = OPT_VCPU_FAMILY,
    vcpu_model: Optional[str] = OPT_VCPU_MODEL,
    vcpu_stepping: Optional[str] = OPT_VCPU_STEPPING,
    vmm_type: str = OPT_VMM_TYPE,
    kernel: Optional[str] = OPT_KERNEL,
    initrd: Optional[str] = OPT_INITRD,
    append: Optional[str] = OPT_APPEND,
    guest_features: Optional[str] = OPT_GUEST_FEATURES,
    legacy_vm_type: Optional[bool] = OPT_LEGACY,
    snp_ovmf_hash: Optional[str] = OPT_OVMF_HASH,
    svsm: Optional[str] = OPT_SVSM,
    vars_size: Optional[str] = OPT_VARS_SIZE,
    vars_file: Optional[str] = OPT_VARS_FILE,
) -> None:
    """Sign an ID block and ID_AUTH for SNP_LAUNCH_FINISH (QEMU id-block=, id-auth=)."""
    import json

    if id_block_out is not None or id_auth_out is not None:
        from .output import check_outputs
        check_outputs([p for p in (id_block_out, id_auth_out) if p is not None], force)

    from .idblock import IdBlock, parse_digest, sign_id_block
    from .keys import load_private_key
    from .policy import build_policy

    legacy_spelling = idkey is not None or authorkey is not None
    if id_key is not None and idkey is not None:
        raise ConfigError("--id-key and --idkey are the same option; give one")
    if author_key is not None and authorkey is not None:
        raise ConfigError("--author-key and --authorkey are the same option; give one")
    id_key = id_key if id_key is not None else idkey
    author_key = author_key if author_key is not None else authorkey
    fmt = output_format or ("peer" if legacy_spelling else "qemu")
    if fmt not in ("qemu", "json", "peer"):
        raise ConfigError(f"--output-format {fmt!r} is not qemu, json or peer")
    if id_key is None:
        raise ConfigError("--id-key is required")
    if (measurement is None) == (mode is None):
        raise ConfigError("give either --measurement or --mode with the measure options")
    if measurement is not None:
        digest = parse_digest(measurement)
    else:
        if ovmf is None:
            raise ConfigError("--mode needs --ovmf")
        config = build_config(
            mode=mode, ovmf=ovmf, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig,
            vcpu_family=vcpu_family, vcpu_model=vcpu_model, vcpu_stepping=vcpu_stepping,
            vmm_type=vmm_type, kernel=kernel, initrd=initrd, append=append,
            guest_features=guest_features, legacy_vm_type=legacy_vm_type,
            snp_ovmf_hash=snp_ovmf_hash, svsm=svsm, vars_size=vars_size, vars_file=vars_file)
        if config.mode.value not in ("snp", "snp:svsm"):
            raise ConfigError(f"an ID block signs an SNP launch digest; mode {config.mode.value} "
                              "does not give one")
        from .launch import measure
        digest = measure(config).digest
    block = IdBlock(
        launch_digest=digest, family_id=family_id, image_id=image_id, version=id_version,
        guest_svn=guest_svn,
        policy=build_policy(parse_int("--policy", policy), abi_major=abi_major,
                            abi_minor=abi_minor, smt=smt, migrate_ma=migrate_ma,
                            debug=allow_debug, single_socket=single_socket,
                            cxl_allowed=cxl_allowed, mem_aes_256_xts=mem_aes_256_xts,
                            rapl_disable=rapl_disable, ciphertext_hiding=ciphertext_hiding,
                            page_swap_disable=page_swap_disable))
    id_private = load_private_key(
        id_key, _passphrase(id_key_passphrase_env, id_key_passphrase_file, "ID key"), "ID key")
    author_private = None
    if author_key is not None:
        author_private = load_private_key(
            author_key,
            _passphrase(author_key_passphrase_env, author_key_passphrase_file, "author key"),
            "author key")
    elif author_key_passphrase_env or author_key_passphrase_file:
        raise ConfigError("an author key passphrase was given without --author-key")
    signed = sign_id_block(block, id_private, author_private)
    outputs = [(path, data) for path, data in ((id_block_out, signed.id_block),
                                               (id_auth_out, signed.id_auth)) if path is not None]
    if outputs:
        from .output import write_outputs
        write_outputs(outputs, force)
    if fmt == "json":
        print(json.dumps(signed.to_json(), indent=2, sort_keys=True))
    elif fmt == "peer":
        import base64
        lines = [signed.qemu_properties.replace(",author-key-enabled=on", ""),
                 f"id_key_hash: {base64.b64encode(signed.id_key_digest).decode()}"]
        if signed.author_key_digest is not None:
            lines.append(f"author_key: {base64.b64encode(signed.author_key_digest).decode()}")
        print("\n".join(lines))
    else:
        print(signed.qemu_properties)


@app.command("snp-create-id-block", hidden=True)
def snp_create_id_block_command(
    measurement: Optional[str] = typer.Option(None, "--measurement", metavar="VALUE",
                                              help="Guest launch measurement in Base64."),
    idkey: Optional[Path] = typer.Option(None, "--idkey", metavar="PATH",
                                         help="ID private key file."),
    authorkey: Optional[Path] = typer.Option(None, "--authorkey", metavar="PATH",
                                             help="Author private key file."),
) -> None:
    """sev-snp-measure's snp-create-id-block: the same flags and the same text output."""
    if idkey is None or authorkey is None:
        raise ConfigError("missing key files for id block (--idkey and --authorkey)")
    if measurement is None:
        raise ConfigError("--measurement is required")
    id_block_command(
        measurement=measurement, id_key=None, idkey=idkey, author_key=None,
        authorkey=authorkey, id_key_passphrase_env=None, id_key_passphrase_file=None,
        author_key_passphrase_env=None, author_key_passphrase_file=None, family_id=None,
        image_id=None, id_version=1, guest_svn=0, policy="0x30000", abi_major=None,
        abi_minor=None, smt=None, migrate_ma=None, allow_debug=None, single_socket=None,
        cxl_allowed=None, mem_aes_256_xts=None, rapl_disable=None, ciphertext_hiding=None,
        page_swap_disable=None, output_format="peer", id_block_out=None, id_auth_out=None,
        force=False, mode=None, ovmf=None, vcpus=None, vcpu_type=None, vcpu_sig=None,
        vcpu_family=None, vcpu_model=None, vcpu_stepping=None, vmm_type="QEMU", kernel=None,
        initrd=None, append=None, guest_features=None, legacy_vm_type=None,
        snp_ovmf_hash=None, svsm=None, vars_size=None, vars_file=None)


@app.command("key-digest")
def key_digest_command(
    key: Path = typer.Argument(..., metavar="KEY",
                               help="Key file: EC P-384 private or public key or certificate, "
                                    "PEM or DER."),
    output_format: str = typer.Option("hex", "--output-format", metavar="hex|base64",
                                      help="Digest output format."),
    passphrase_env: Optional[str] = typer.Option(
        None, "--passphrase-env", metavar="VAR",
        help="Environment variable holding an encrypted private key's passphrase."),
    passphrase_file: Optional[Path] = typer.Option(
        None, "--passphrase-file", metavar="PATH",
        help="File whose first line is an encrypted private key's passphrase."),
) -> None:
    """Print the SHA-384 key digest an attestation report carries for KEY (ID or author key)."""
    import base64

    from .keys import key_digest, load_public_key

    if output_format not in ("hex", "base64"):
        raise ConfigError(f"--output-format {output_format!r} is not hex or base64")
    public = load_public_key(key, _passphrase(passphrase_env, passphrase_file, "key"), "key")
    digest = key_digest(public)
    print(digest.hex() if output_format == "hex" else base64.b64encode(digest).decode())


def _usage_errors() -> tuple:
    kinds = []
    try:
        from typer.exceptions import TyperException
        kinds.append(TyperException)
    except ImportError:  # older typer: click's exceptions
        pass
    try:
        import click
        kinds.append(click.ClickException)
    except ImportError:
        pass
    return tuple(kinds)


def run_typer(args: List[str]) -> int:
    """Run ``args`` through the typer app, turning usage errors into one line and exit 2."""
    _state["debug"] = "--debug" in args or bool(os.environ.get("SNPMEASURE_DEBUG"))
    _state["args"] = args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except _usage_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(exc.format_message().rstrip() + "\n")
            return EXIT_USAGE
        error(exc.format_message())
        return getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
    sys.stdout.flush()
    return result if isinstance(result, int) else 0


from . import cli_analysis  # noqa: E402,F401  (registers manifest, explain, find, inspect)
from . import cli_report  # noqa: E402,F401  (registers report show, report verify)

from .main import main, main_entry  # noqa: E402,F401  (the entry points live in main.py)
