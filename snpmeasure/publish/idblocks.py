"""One ID block and ID_AUTH per manifest entry, signed in one run, with an index.

The ID block of each SNP entry signs that entry's measurement (SNP firmware ABI, SNP_LAUNCH_FINISH:
the firmware refuses a launch whose digest differs); every other field (family and image IDs,
version, guest SVN, policy) is the same for the batch. Entries of SEV and SEV-ES modes, which
have no ID block, are left out and counted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from .. import __version__
from ..attestation.idblock import IdBlock, sign_id_block
from ..attestation.verify import manifest_entry_json
from ..errors import UnsupportedError
from ..limits import MAX_ID_BLOCK_BATCH


# VMMs whose guests take no ID block from the image's owner: EC2 and GCE start SNP guests
# with their own launch (AWS and Google publish no way to pass ID_BLOCK/ID_AUTH), unlike QEMU's
# sev-snp-guest id-block= and id-auth= properties.
NO_ID_BLOCK_VMMS = ("ec2", "gce")


def batch_files(document: dict, template: IdBlock, id_key, author_key=None,
                manifest_name: str = "manifest", manifest_sha256: str | None = None
                ) -> tuple[list[tuple[str, bytes]], dict]:
    """The files of a batch (``NNNN.id-block.bin``, ``NNNN.id-auth.bin`` per SNP entry, NNNN
    the entry's index in the manifest, and ``index.json``: its schema is
    docs/schemas/id-block-index.schema.json), and how many entries were left out, by why:
    ``sev`` (SEV and SEV-ES have no ID block), ``cloud`` (EC2 and GCE take none)."""
    entries = document["measurements"]
    skipped = {"sev": 0, "cloud": 0}
    snp = []
    for index, entry in enumerate(entries):
        if len(bytes.fromhex(entry["measurement"])) != 48:
            skipped["sev"] += 1
        elif entry.get("vmm_type") in NO_ID_BLOCK_VMMS:
            skipped["cloud"] += 1
        else:
            snp.append((index, entry))
    if not snp:
        raise UnsupportedError(f"{manifest_name}: no entry to sign (ID blocks exist only for "
                               "SEV-SNP launches, and EC2 and GCE take none)")
    if len(snp) > MAX_ID_BLOCK_BATCH:
        raise UnsupportedError(f"{manifest_name}: {len(snp)} entries are over the limit of "
                               f"{MAX_ID_BLOCK_BATCH} ID blocks per run")
    files: list[tuple[str, bytes]] = []
    index_entries = []
    digests = None
    for index, entry in snp:
        block = dataclasses.replace(template, launch_digest=bytes.fromhex(entry["measurement"]))
        signed = sign_id_block(block, id_key, author_key)
        digests = signed
        stem = f"{index:04d}"
        files += [(f"{stem}.id-block.bin", signed.id_block), (f"{stem}.id-auth.bin",
                                                              signed.id_auth)]
        index_entries.append({
            "index": index, **manifest_entry_json(entry),
            "id_block_file": f"{stem}.id-block.bin", "id_auth_file": f"{stem}.id-auth.bin",
            "qemu_properties": signed.qemu_properties})
    fields = template.fields()
    index = {
        "tool": "snpmeasure", "version": __version__, "index_version": 1,
        "manifest": {"name": manifest_name, "sha256": manifest_sha256},
        "family_id": fields["family_id"], "image_id": fields["image_id"],
        "id_version": fields["id_version"], "guest_svn": fields["guest_svn"],
        "policy": fields["policy"],
        "id_key_digest": digests.id_key_digest.hex(),
        "author_key_digest": digests.author_key_digest.hex()
        if digests.author_key_digest else None,
        "skipped_entries": len(entries) - len(snp),
        "entries": index_entries,
    }
    files.append(("index.json", (json.dumps(index, indent=2) + "\n").encode()))
    return files, skipped


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
