"""``snpmeasure id-block``, ``snp-create-id-block`` and ``key-digest``."""
from __future__ import annotations

import base64
import json

from ..errors import ConfigError
from .values import launch_config, parse_int


def _passphrase(env, file, what):
    from ..formats.keys import read_passphrase
    return read_passphrase(env, file, what)


def _launch_options_given(values: dict) -> list[str]:
    """The launch options (measure's) given with a value other than their default."""
    from .options import LAUNCH_OPTIONS
    from .spec import FLAG, SWITCH

    given = []
    for opt in LAUNCH_OPTIONS:
        value = values.get(opt.dest)
        if opt.dest == "mode" or value is None or value == opt.default \
                or (opt.kind == FLAG and value is False):
            continue
        given.append(opt.negative if opt.kind == SWITCH and value is False else opt.names[0])
    return given


def run_id_block(values: dict) -> None:
    from ..attestation.idblock import sign_id_block
    from ..formats.encoding import parse_digest

    force = values["force"]
    outputs = [(values["id_block_out"], "id_block"), (values["id_auth_out"], "id_auth")]
    outputs = [(path, what) for path, what in outputs if path is not None]
    if outputs:
        from ..files import check_outputs
        check_outputs([path for path, _ in outputs], force)
    legacy_spelling = values["idkey"] is not None or values["authorkey"] is not None
    if values["id_key"] is not None and values["idkey"] is not None:
        raise ConfigError("--id-key and --idkey are the same option; give one")
    if values["author_key"] is not None and values["authorkey"] is not None:
        raise ConfigError("--author-key and --authorkey are the same option; give one")
    id_key = values["id_key"] if values["id_key"] is not None else values["idkey"]
    author_key = values["author_key"] if values["author_key"] is not None \
        else values["authorkey"]
    fmt = values["output_format"] or ("peer" if legacy_spelling else "qemu")
    if fmt not in ("qemu", "json", "peer"):
        raise ConfigError(f"--output-format {fmt!r} is not qemu, json or peer")
    if id_key is None:
        raise ConfigError("--id-key is required")
    measurement, mode = values["measurement"], values["mode"]
    if values["manifest"] is not None or values["out_dir"] is not None:
        return _run_batch(values, id_key, author_key)
    if (measurement is None) == (mode is None):
        raise ConfigError("give either --measurement or --mode with the measure options "
                          "(or --manifest with --out-dir)")
    if measurement is not None:
        unused = _launch_options_given(values)
        if unused:
            raise ConfigError(f"--measurement is the launch digest itself, so "
                              f"{', '.join(unused)} would not be used: give --mode with the "
                              "launch options instead of --measurement")
        digest = parse_digest(measurement)
    else:
        if values["ovmf"] is None:
            raise ConfigError("--mode needs --ovmf")
        config = launch_config(values)
        if config.mode.value not in ("snp", "snp:svsm"):
            raise ConfigError(f"an ID block signs an SNP launch digest; mode {config.mode.value} "
                              "does not give one")
        from ..engine.measure import measure
        digest = measure(config).digest
    block = _block_template(values, digest)
    id_private, author_private = _keys(values, id_key, author_key)
    signed = sign_id_block(block, id_private, author_private)
    if outputs:
        from ..files import write_outputs
        write_outputs([(path, getattr(signed, what)) for path, what in outputs], force)
    if fmt == "json":
        print(json.dumps(signed.to_json(), indent=2, sort_keys=True))
    elif fmt == "peer":
        lines = [signed.qemu_properties.replace(",author-key-enabled=on", ""),
                 f"id_key_hash: {base64.b64encode(signed.id_key_digest).decode()}"]
        if signed.author_key_digest is not None:
            lines.append(f"author_key: {base64.b64encode(signed.author_key_digest).decode()}")
        print("\n".join(lines))
    else:
        print(signed.qemu_properties)


def run_snp_create_id_block(values: dict) -> None:
    """sev-snp-measure's snp-create-id-block: id-block with its flags and text output."""
    from .options import ID_BLOCK

    if values["idkey"] is None or values["authorkey"] is None:
        raise ConfigError("missing key files for id block (--idkey and --authorkey)")
    if values["measurement"] is None:
        raise ConfigError("--measurement is required")
    run_id_block({**ID_BLOCK.defaults(), **values, "output_format": "peer"})


def run_key_digest(values: dict) -> None:
    from ..formats.keys import key_digest, load_public_key

    output_format = values["output_format"]
    if output_format not in ("hex", "base64"):
        raise ConfigError(f"--output-format {output_format!r} is not hex or base64")
    key = values["key"]
    public = load_public_key(key, _passphrase(values["passphrase_env"],
                                              values["passphrase_file"], "key"), "key",
                             passphrase_options="--passphrase-env or --passphrase-file")
    digest = key_digest(public)
    print(digest.hex() if output_format == "hex" else base64.b64encode(digest).decode())


def _block_template(values: dict, digest: bytes):
    from ..attestation.idblock import IdBlock
    from ..attestation.policy import build_policy

    switches = {name: values[dest] for name, dest in (
        ("smt", "smt"), ("migrate_ma", "migrate_ma"), ("debug", "allow_debug"),
        ("single_socket", "single_socket"), ("cxl_allowed", "cxl_allowed"),
        ("mem_aes_256_xts", "mem_aes_256_xts"), ("rapl_disable", "rapl_disable"),
        ("ciphertext_hiding", "ciphertext_hiding"), ("page_swap_disable", "page_swap_disable"))}
    return IdBlock(
        launch_digest=digest, family_id=values["family_id"], image_id=values["image_id"],
        version=parse_int("--id-version", values["id_version"]),
        guest_svn=parse_int("--guest-svn", values["guest_svn"]),
        policy=build_policy(parse_int("--policy", values["policy"]),
                            abi_major=parse_int("--abi-major", values["abi_major"]),
                            abi_minor=parse_int("--abi-minor", values["abi_minor"]),
                            **switches))


def _keys(values: dict, id_key, author_key) -> tuple:
    from ..formats.keys import load_private_key

    id_private = load_private_key(
        id_key, _passphrase(values["id_key_passphrase_env"], values["id_key_passphrase_file"],
                            "ID key"), "ID key",
        passphrase_options="--id-key-passphrase-env or --id-key-passphrase-file")
    author_private = None
    if author_key is not None:
        author_private = load_private_key(
            author_key, _passphrase(values["author_key_passphrase_env"],
                                    values["author_key_passphrase_file"], "author key"),
            "author key",
            passphrase_options="--author-key-passphrase-env or --author-key-passphrase-file")
    elif values["author_key_passphrase_env"] or values["author_key_passphrase_file"]:
        raise ConfigError("an author key passphrase was given without --author-key")
    return id_private, author_private


def _run_batch(values: dict, id_key, author_key) -> None:
    """id-block --manifest FILE --out-dir DIR: one ID block per SEV-SNP entry."""
    import os

    from ..files import check_directory_target, write_directory
    from ..formats.keys import SIGNING_KEYS, load_public_key
    from ..formats.manifest import parse_manifest, read_manifest_bytes
    from ..publish.idblocks import batch_files, sha256_hex

    manifests, out_dir = values["manifest"] or [], values["out_dir"]
    if not manifests or out_dir is None:
        raise ConfigError("--manifest and --out-dir go together")
    if len(manifests) > 1:
        raise ConfigError(f"--manifest given {len(manifests)} times: a batch signs one manifest "
                          "(its index.json names it); run once per manifest, each with its own "
                          "--out-dir")
    manifest = manifests[0]
    others = [flag for flag, dest in (
        ("--measurement", "measurement"), ("--mode", "mode"), ("--ovmf", "ovmf"),
        ("--id-block-out", "id_block_out"), ("--id-auth-out", "id_auth_out"),
        ("--output-format", "output_format")) if values.get(dest) is not None]
    others += [flag for flag in _launch_options_given(values) if flag not in others]
    if others:
        raise ConfigError(f"--manifest excludes {', '.join(others)}")
    check_directory_target(out_dir, values["force"])
    keys = tuple(load_public_key(path, flag="--manifest-key", accept=SIGNING_KEYS)
                 for path in values["manifest_key"] or ())
    data = read_manifest_bytes(manifest)
    document = parse_manifest(data, manifest, keys)
    template = _block_template(values, bytes(48))
    id_private, author_private = _keys(values, id_key, author_key)
    files, skipped = batch_files(document, template, id_private, author_private,
                                 os.path.basename(manifest), sha256_hex(data))
    write_directory(out_dir, files, values["force"])
    import warnings

    from ..text import counted
    for why, kind, reason in (("sev", "SEV/SEV-ES", "SEV and SEV-ES have no ID block"),
                              ("cloud", "EC2/GCE", "those clouds take no ID block from the "
                                                   "image's owner")):
        if skipped[why]:
            warnings.warn(f"{manifest}: {counted(skipped[why], kind + ' entry', kind + ' entries')}"
                          f" left out ({reason})")
    print(f"{counted((len(files) - 1) // 2, 'ID block')} in {out_dir} (index: "
          f"{os.path.join(out_dir, 'index.json')})")
