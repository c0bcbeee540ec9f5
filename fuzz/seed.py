"""Build the seed corpora in fuzz/corpus/<target>/ from the project's samples."""
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
SEEDS = {
    "firmware": ["ovmf_AmdSev_suffix.bin", "ovmf_OvmfX64_suffix.bin"],
    "svsm": [],
    "igvm": ["igvm/linux_x64_vtl0.igvm"],
    "report": ["reports/report_milan.hex"],
    "keys": ["keys/id_key_test.pem", "keys/author_key_test.pem", "reports/vcek_milan.der",
             "reports/ark_ask_milan.pem"],
    "cert_table": [],
    "inputs": [],
    "dsse": [],
    "corim": [],
    "configfs": [],
}


def publishing_samples() -> dict:
    """Samples for the publishing targets: a signed manifest, an unsigned and a signed CoRIM,
    and a configfs-tsm view (see targets.fuzz_configfs) holding a report."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from snpmeasure.formats.dsse import signed_manifest
    from snpmeasure.publish.corim import build_corim, sign_corim

    document = {"manifest_version": 2, "inputs": {"ovmf": {"name": "OVMF.fd", "size": 1,
                                                           "sha256": "00" * 32}},
                "measurements": [{"mode": "snp", "measurement": "11" * 48}]}
    key = ec.derive_private_key(7, ec.SECP256R1())
    corim = build_corim([document])
    with open(os.path.join(DATA, "reports", "report_milan.hex"), "rb") as handle:
        report = bytearray(bytes.fromhex(handle.read().decode()))
    report[0x50:0x90] = bytes(64)  # the REPORT_DATA the target requests
    return {"dsse": {"signed": signed_manifest(document, [key])},
            "corim": {"unsigned": corim, "signed": sign_corim(corim, key)},
            "configfs": {"report": b"sev_guest\x00\x01\x00" + len(report).to_bytes(2, "little")
                         + bytes(report)}}


def _publishing_seeds() -> None:
    for target, files in publishing_samples().items():
        for name, blob in files.items():
            with open(os.path.join(ROOT, "fuzz", "corpus", target, name), "wb") as handle:
                handle.write(blob)


def main() -> int:
    sys.path.insert(0, ROOT)
    for name, files in SEEDS.items():
        directory = os.path.join(ROOT, "fuzz", "corpus", name)
        os.makedirs(directory, exist_ok=True)
        for index, file in enumerate(files):
            shutil.copy(os.path.join(DATA, file), os.path.join(directory, f"seed{index}"))
    _publishing_seeds()
    from snpmeasure.formats.igvm_writer import IgvmWriter
    small = (IgvmWriter().platform().guest_policy().parameter_area(0, 4096)
             .page_data(0x1000, b"\x01" * 4096).page_data(0x2000, flags=2)
             .parameter_insert(0x3000, 0).vp_context(0xFFFFFFFFF000, bytes(4096)).build())
    with open(os.path.join(ROOT, "fuzz", "corpus", "igvm", "small"), "wb") as handle:
        handle.write(small)
    from snpmeasure.launch.vmsa import build_vmsa
    seg = {"selector": 0x10, "attrib": 0xC093, "limit": 0xFFFFFFFF, "base": 0}
    vmsa = build_vmsa({"cs": {"selector": 8, "attrib": 0xA09B, "limit": 0xFFFFFFFF, "base": 0},
                       "ss": seg, "ds": seg, "es": seg, "efer": 0xD00, "cr0": 0x80000033,
                       "cr4": 0x620, "cr3": 0x100000, "dr7": 0x400, "xcr0": 1, "rip": 0x200000,
                       "g_pat": 0x0007040600070406, "sev_features": 0x21, "x87_fcw": 0x37F,
                       "mxcsr": 0x1F80})
    qemu = (IgvmWriter().platform().guest_policy().parameter_area(0, 8192)
            .parameter_usage(0x307, 0).page_data(0x1000, b"\x02" * 4096)
            .page_data(0x2000, flags=0).page_data(0x3000, data_type=1)
            .parameter_insert(0x10000, 0).page_data(0x4000, data_type=2)
            .vp_context(0xFFFFFFFFF000, vmsa).build())
    with open(os.path.join(ROOT, "fuzz", "corpus", "igvm", "qemu"), "wb") as handle:
        handle.write(qemu)
    with open(os.path.join(DATA, "svsm.bin"), "rb") as handle:
        svsm = handle.read()
    with open(os.path.join(ROOT, "fuzz", "corpus", "svsm", "tail"), "wb") as handle:
        handle.write(svsm[-8192:])  # the footer table and metadata live in the last pages
    from snpmeasure.formats.cert_table import ARK_GUID, ASK_GUID, VCEK_GUID, build_cert_table
    with open(os.path.join(DATA, "reports", "ark_ask_milan.pem"), "rb") as handle:
        chain = handle.read()
    with open(os.path.join(DATA, "reports", "vcek_milan.der"), "rb") as handle:
        vcek = handle.read()
    os.makedirs(os.path.join(ROOT, "fuzz", "corpus", "cert_table"), exist_ok=True)
    with open(os.path.join(ROOT, "fuzz", "corpus", "cert_table", "table"), "wb") as handle:
        handle.write(build_cert_table([(VCEK_GUID, vcek), (ASK_GUID, chain), (ARK_GUID, chain)]))
    for index, text in enumerate([b"1-64,128", b"EPYC-Milan,EPYC-Genoa", b"0x1,0x21", b"on,off",
                                  b"console=ttyS0", b'{"measurements": []}',
                                  b"bl=3,tee=0,snp=8,ucode=115"]):
        with open(os.path.join(ROOT, "fuzz", "corpus", "inputs", f"seed{index}"), "wb") as h:
            h.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
