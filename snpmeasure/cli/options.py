"""Every option of every command, declared once (see ``cli.spec``).

Options several commands share are module constants; a command that needs a variation (another
help text, not required, a list instead of one value) derives it with ``Opt.but``. The order of
a command's options is the order ``--help`` lists them.
"""
from __future__ import annotations

from .spec import ARGUMENT, FLAG, MULTI, SWITCH, VERSION, Command, Opt

# -- global ------------------------------------------------------------------------------------
VERSION_OPT = Opt("version", "--version", kind=VERSION, help="Print the version and exit.")
DEBUG = Opt("debug", "--debug", kind=FLAG,
            help="Show a traceback when snpmeasure fails on a bug.")

# -- the launch inputs of measure, id-block, manifest, explain and find -----------------------
MODE = Opt("mode", "--mode", metavar="MODE", required=True,
           complete=".launch.config:MODE_NAMES",
           help="Guest mode: sev, seves, snp, snp:ovmf-hash or snp:svsm.")
VCPUS = Opt("vcpus", "--vcpus", metavar="N", help="Number of guest vCPUs.")
VCPU_TYPE = Opt("vcpu_type", "--vcpu-type", metavar="CPUTYPE",
                complete=".launch.cpu:CPU_TYPES",
                help="QEMU CPU model of the vCPUs (EPYC, EPYC-v4, EPYC-Milan, EPYC-Genoa-v2, "
                     "EPYC-Turin, ...; any case).")
VCPU_SIG = Opt("vcpu_sig", "--vcpu-sig", metavar="VALUE",
               help="vCPU signature (CPUID 1 EAX), e.g. 0xa00f11.")
VCPU_FAMILY = Opt("vcpu_family", "--vcpu-family", metavar="FAMILY", help="vCPU family.")
VCPU_MODEL = Opt("vcpu_model", "--vcpu-model", metavar="MODEL", help="vCPU model.")
VCPU_STEPPING = Opt("vcpu_stepping", "--vcpu-stepping", metavar="STEPPING",
                    help="vCPU stepping.")
VMM_TYPE = Opt("vmm_type", "--vmm-type", metavar="VMMTYPE", default="QEMU",
               complete=".launch.profiles:VMM_TYPES",
               help="Host VMM: QEMU, ec2 or gce (any case).")
OVMF = Opt("ovmf", "--ovmf", metavar="PATH", required=True, help="OVMF firmware image.")
KERNEL = Opt("kernel", "--kernel", metavar="PATH",
             help="Kernel for measured direct boot (QEMU -kernel).")
INITRD = Opt("initrd", "--initrd", metavar="PATH", help="Initrd (needs --kernel).")
APPEND = Opt("append", "--append", metavar="CMDLINE", help="Kernel command line (needs --kernel).")
GUEST_FEATURES = Opt("guest_features", "--guest-features", metavar="VALUE",
                     help="SEV_FEATURES of the SNP VMSAs (default 0x1).")
LEGACY = Opt("legacy_vm_type", "--legacy-vm-type", "--no-legacy-vm-type", kind=SWITCH,
             help="QEMU's legacy-vm-type: KVM's legacy init leaves the VMSA FPU state (mxcsr, "
                  "x87_fcw) zero; --no-legacy-vm-type is KVM_SEV_INIT2. Default: as QEMU does, "
                  "on for seves (sev-guest) and snp:svsm, off for snp (sev-snp-guest).")
OVMF_HASH = Opt("snp_ovmf_hash", "--snp-ovmf-hash", metavar="HASH",
                help="Precalculated hash of the OVMF pages (hex, from --mode snp:ovmf-hash); the "
                     "OVMF pages are not rehashed.")
SVSM = Opt("svsm", "--svsm", metavar="PATH", help="COCONUT-SVSM binary (snp:svsm).")
VARS_SIZE = Opt("vars_size", "--vars-size", metavar="SIZE",
                help="Size of the OVMF_VARS file in bytes (snp:svsm).")
VARS_FILE = Opt("vars_file", "--vars-file", metavar="PATH",
                help="OVMF_VARS file, whose size is used (snp:svsm).")
FORCE = Opt("force", "--force", kind=FLAG, help="Replace output files that already exist.")
QEMU_VERSION = Opt("qemu_version", "--qemu-version", metavar="RELEASE",
                   help="QEMU release of the host (8.2 to 11.1; default 11.1, the newest "
                        "modelled): its defaults and refusals apply (docs/measurement.md).")
NO_HOST_CHECKS = Opt("no_host_checks", "--no-host-checks", kind=FLAG,
                     help="Measure launches the host stack would refuse (patched hosts, "
                          "synthetic test inputs), with a warning naming each rule skipped.")
DEBUG_SWAP = Opt("debug_swap", "--debug-swap", kind=FLAG,
                 help="Add DebugSwap (SEV_FEATURES bit 5) to the guest features.")
SECURE_TSC = Opt("secure_tsc", "--secure-tsc", kind=FLAG,
                 help="Add SecureTSC (SEV_FEATURES bit 9) to the guest features (SNP; Linux "
                      "6.18+ KVM).")
HOST_OPTIONS = (QEMU_VERSION, NO_HOST_CHECKS)
FEATURE_FLAGS = (DEBUG_SWAP, SECURE_TSC)

# The vCPU options and the files of a launch, in the order measure lists them.
VCPU_OPTIONS = (VCPUS, VCPU_TYPE, VCPU_SIG, VCPU_FAMILY, VCPU_MODEL, VCPU_STEPPING, VMM_TYPE)
KERNEL_OPTIONS = (KERNEL, INITRD, APPEND)
SVSM_OPTIONS = (SVSM, VARS_SIZE, VARS_FILE)
# Every launch option, as taken by measure, id-block and explain (and --compare).
LAUNCH_OPTIONS = (MODE, OVMF) + VCPU_OPTIONS + KERNEL_OPTIONS + (GUEST_FEATURES,) \
    + FEATURE_FLAGS + (LEGACY, OVMF_HASH) + SVSM_OPTIONS + HOST_OPTIONS
LAUNCH_DESTS = tuple(opt.dest for opt in LAUNCH_OPTIONS)

# List forms, for manifest and find.
VCPUS_LIST = VCPUS.but(metavar="LIST", help="vCPU counts: numbers and ranges, e.g. 1-64,128.")
VCPU_TYPE_LIST = VCPU_TYPE.but(metavar="LIST", complete=".cli.values:cpu_type_choices",
                               help="CPU types, e.g. EPYC-Milan,EPYC-Genoa, or 'all'.")
VCPU_SIG_LIST = VCPU_SIG.but(metavar="LIST", help="vCPU signatures, e.g. 0xa00f11,0xa10f10.")
VMM_LIST = VMM_TYPE.but(metavar="LIST", default=None, complete=".cli.values:vmm_type_choices",
                        help="VMM types, e.g. QEMU,ec2,gce, or 'all'.")
FEATURES_LIST = GUEST_FEATURES.but(metavar="LIST", help="Guest feature values, e.g. 0x1,0x21.")
LEGACY_LIST = Opt("legacy_vm_type", "--legacy-vm-type", metavar="LIST", complete=("on", "off"),
                  help="on, off, or on,off (both KVM init paths).")

# -- IGVM --------------------------------------------------------------------------------------
IGVM_PLATFORM = Opt("platform", "--platform", metavar="snp|sev-es|sev", default="snp",
                    help="Which platform of the IGVM file to measure.")
IGVM_LOADER = Opt("loader", "--loader", metavar="igvmmeasure|microsoft|qemu",
                  default="igvmmeasure",
                  help="Loader rules: coconut-svsm igvmmeasure, the microsoft/igvm library "
                       "(Hyper-V, OpenVMM), or QEMU 10.1+ itself (-object igvm-cfg; give "
                       "--vcpus).")
NATIVE_ZERO = Opt("native_zero", "--native-zero", kind=FLAG,
                  help="Measure empty IGVM pages as ZERO pages, not NORMAL zero pages.")
CHECK_KVM = Opt("check_kvm", "--check-kvm", kind=FLAG,
                help="Refuse IGVM files the selected QEMU/KVM refuses (--loader qemu always "
                     "does), whatever the loader rules measured.")
IGVM_OPTIONS = (IGVM_PLATFORM, IGVM_LOADER, NATIVE_ZERO, CHECK_KVM)
# The QEMU loader's launch options (explain takes them from its launch options).
IGVM_QEMU_OPTIONS = (
    VCPUS.but(help="Number of vCPUs (QEMU -smp; --loader qemu): one VMSA each."),
    VCPU_TYPE.but(help="QEMU CPU model of vCPUs without a VP_CONTEXT (their RDX)."),
    VCPU_SIG.but(help="vCPU signature of vCPUs without a VP_CONTEXT, e.g. 0xa00f11."),
    LEGACY.but(help="SEV-ES: QEMU's legacy-vm-type (default on, as QEMU); "
                    "--no-legacy-vm-type is KVM_SEV_INIT2."),
) + HOST_OPTIONS

# -- keys and passphrases ----------------------------------------------------------------------
OUTPUT_FORMAT = Opt("output_format", "--output-format", metavar="hex|base64", default="hex",
                    help="Measurement output format.")
# the signer of a manifest (id-block --manifest, report verify, export)
MANIFEST_KEY = Opt("manifest_key", "--manifest-key", kind=MULTI, metavar="KEY",
                   help="Accept only a manifest signed by this key (public key, private key or "
                        "certificate; ECDSA P-256/P-384 or Ed25519). Repeatable: any one "
                        "suffices; a signed manifest is read only with its key.")
VERBOSE = Opt("verbose", "-v", "--verbose", kind=FLAG,
              help="Print 'Calculated <MODE> guest measurement: <value>'.")
JSON = Opt("json_output", "--json", kind=FLAG, help="Print JSON.")
PRODUCT = Opt("product", "--product", metavar="Milan|Genoa|Turin",
              help="Product line, for reports that do not name it (version 2: default from the "
                   "VCEK's productName); must agree with the report's CPUID fields.")
REPORT_FILE = Opt("file", kind=ARGUMENT, metavar="FILE", required=True,
                  help="Report: binary, hex or base64.")


def _passphrase_options(key: str, what: str) -> tuple:
    prefix = f"{key}_" if key else ""
    spelled = f"--{key.replace('_', '-')}-" if key else "--"
    return (Opt(f"{prefix}passphrase_env", f"{spelled}passphrase-env", metavar="VAR",
                help=f"Environment variable holding {what} passphrase."),
            Opt(f"{prefix}passphrase_file", f"{spelled}passphrase-file", metavar="PATH",
                help=f"File whose first line is {what} passphrase."))


def _policy_switch(dest: str, name: str, help: str) -> Opt:
    return Opt(dest, f"--{name}", f"--no-{name}", kind=SWITCH, help=help)


# -- commands ----------------------------------------------------------------------------------
MEASURE = Command(
    "measure", "Compute the expected launch measurement (the flags of sev-snp-measure 0.0.13).",
    (MODE,) + VCPU_OPTIONS + (OVMF,) + KERNEL_OPTIONS + (GUEST_FEATURES,) + FEATURE_FLAGS + (
        LEGACY, OUTPUT_FORMAT, OVMF_HASH,
        Opt("dump_vmsa", "--dump-vmsa", kind=FLAG,
            help="Write the measured VMSAs to vmsa<N>.bin in the current directory (or in "
                 "--vmsa-dir)."),
        Opt("vmsa_dir", "--vmsa-dir", metavar="DIR",
            help="Write the measured VMSAs to DIR/vmsa<N>.bin (implies --dump-vmsa)."),
    ) + SVSM_OPTIONS + HOST_OPTIONS + (VERBOSE, FORCE, VERSION_OPT),
    "measure:run_measure")

ID_BLOCK = Command(
    "id-block", "Sign an ID block and ID_AUTH for SNP_LAUNCH_FINISH (QEMU id-block=, id-auth=).",
    (Opt("measurement", "--measurement", metavar="VALUE",
         help="Launch digest to sign: 96 hex digits or base64 (sev-snp-measure's form)."),
     Opt("id_key", "--id-key", metavar="PATH", help="ID private key: EC P-384, PEM or DER."),
     Opt("idkey", "--idkey", metavar="PATH",
         help="Same as --id-key (sev-snp-measure spelling; selects its text output)."),
     Opt("author_key", "--author-key", metavar="PATH",
         help="Author private key: EC P-384, PEM or DER."),
     Opt("authorkey", "--authorkey", metavar="PATH",
         help="Same as --author-key (sev-snp-measure spelling)."))
    + _passphrase_options("id_key", "the ID key's")
    + _passphrase_options("author_key", "the author key's")
    + (Opt("family_id", "--family-id", metavar="ID",
           help="Family ID: 32 hex digits or a UUID (default zero)."),
       Opt("image_id", "--image-id", metavar="ID",
           help="Image ID: 32 hex digits or a UUID (default zero)."),
       Opt("id_version", "--id-version", metavar="N", default="1",
           help="ID block version field."),
       Opt("guest_svn", "--guest-svn", metavar="N", default="0", help="Guest SVN."),
       Opt("policy", "--policy", metavar="VALUE", default="0x30000",
           help="Guest policy as a number (the default is QEMU's); the switches below change "
                "single bits of it."),
       Opt("abi_major", "--abi-major", metavar="N", help="Policy: minimum ABI major version."),
       Opt("abi_minor", "--abi-minor", metavar="N", help="Policy: minimum ABI minor version."),
       _policy_switch("smt", "smt", "Policy bit 16: SMT allowed."),
       _policy_switch("migrate_ma", "migrate-ma", "Policy bit 18: migration agent allowed."),
       _policy_switch("allow_debug", "allow-debug", "Policy bit 19: debugging allowed."),
       _policy_switch("single_socket", "single-socket", "Policy bit 20: single socket only."),
       _policy_switch("cxl_allowed", "cxl-allowed", "Policy bit 21: CXL allowed."),
       _policy_switch("mem_aes_256_xts", "mem-aes-256-xts",
                      "Policy bit 22: require AES-256-XTS."),
       _policy_switch("rapl_disable", "rapl-disable", "Policy bit 23: require RAPL disabled."),
       _policy_switch("ciphertext_hiding", "ciphertext-hiding",
                      "Policy bit 24: require ciphertext hiding."),
       _policy_switch("page_swap_disable", "page-swap-disable",
                      "Policy bit 25: disable page swap."),
       Opt("output_format", "--output-format", metavar="qemu|json|peer",
           help="qemu: the sev-snp-guest properties (default); json: blocks, key digests and "
                "decoded fields; peer: sev-snp-measure's snp-create-id-block text (the default "
                "with --idkey/--authorkey)."),
       Opt("id_block_out", "--id-block-out", metavar="PATH",
           help="Also write the 96-byte ID block here."),
       Opt("id_auth_out", "--id-auth-out", metavar="PATH",
           help="Also write the 4096-byte ID_AUTH here."),
       FORCE,
       Opt("manifest", "--manifest", kind=MULTI, metavar="FILE",
           help="Sign one ID block per SEV-SNP entry of this manifest (with --out-dir; one "
                "manifest per batch)."),
       MANIFEST_KEY,
       Opt("out_dir", "--out-dir", metavar="DIR",
           help="With --manifest: write NNNN.id-block.bin, NNNN.id-auth.bin and index.json into "
                "DIR, which appears whole (--force replaces an earlier batch)."),
       MODE.but(required=False, help="Compute the launch digest in this call: guest mode (snp "
                                     "or snp:svsm) with the measure options."),
       OVMF.but(required=False, help="OVMF firmware image (with --mode)."))
    + VCPU_OPTIONS + KERNEL_OPTIONS + (GUEST_FEATURES,) + FEATURE_FLAGS
    + (LEGACY, OVMF_HASH) + SVSM_OPTIONS + HOST_OPTIONS,
    "idblock:run_id_block")

SNP_CREATE_ID_BLOCK = Command(
    "snp-create-id-block",
    "sev-snp-measure's snp-create-id-block: the same flags and the same text output.",
    (Opt("measurement", "--measurement", metavar="VALUE",
         help="Guest launch measurement in Base64."),
     Opt("idkey", "--idkey", metavar="PATH", help="ID private key file."),
     Opt("authorkey", "--authorkey", metavar="PATH", help="Author private key file.")),
    "idblock:run_snp_create_id_block", hidden=True)

KEY_DIGEST = Command(
    "key-digest",
    "Print the SHA-384 key digest an attestation report carries for KEY (ID or author key).",
    (Opt("key", kind=ARGUMENT, metavar="KEY", required=True,
         help="Key file: EC P-384 private or public key or certificate, PEM or DER."),
     OUTPUT_FORMAT.but(help="Digest output format."))
    + _passphrase_options("", "an encrypted private key's"),
    "idblock:run_key_digest")

MANIFEST = Command(
    "manifest", "Reference values for many configurations of one image, as one JSON manifest "
                "(optionally signed: a DSSE envelope around an in-toto Statement).",
    (MODE.but(required=False, help="Guest mode: sev, seves, snp or snp:svsm (not with --igvm)."),
     OVMF.but(required=False, help="OVMF firmware image (not with --igvm)."),
     Opt("igvm", "--igvm", metavar="FILE",
         help="An IGVM file instead of an OVMF launch (with --platform, --loader and, for "
              "--loader qemu, the vCPU lists)."),
     VCPUS_LIST, VCPU_TYPE_LIST, VCPU_SIG_LIST, VCPU_FAMILY, VCPU_MODEL,
     VCPU_STEPPING, VMM_LIST) + KERNEL_OPTIONS + (FEATURES_LIST,) + FEATURE_FLAGS
    + (LEGACY_LIST, OVMF_HASH) + SVSM_OPTIONS + HOST_OPTIONS + IGVM_OPTIONS
    + (Opt("sign", "--sign", kind=MULTI, metavar="KEY",
           help="Sign the manifest with this private key (ECDSA P-256/P-384 or Ed25519, PEM or "
                "DER): the output is a DSSE envelope. Repeatable."),)
    + _passphrase_options("sign", "the signing key's")
    + (Opt("output", "-o", "--output", metavar="FILE",
           help="Write the manifest to FILE (atomically) instead of stdout."),
       FORCE),
    "analysis:run_manifest")

COMPARE = Opt("compare", "--compare", metavar="FLAGS",
              help="A second configuration: these flags applied on top of the others, e.g. "
                   "--compare '--vcpu-type EPYC-Milan --guest-features 0x21'. Shows the first "
                   "update where the two diverge and why.")

EXPLAIN = Command(
    "explain", "Every page update of a launch, in order, with its running digest.",
    (MODE.but(required=False, help="Guest mode (not with --igvm)."),
     OVMF.but(required=False, help="OVMF firmware image (not with --igvm)."),
     Opt("igvm", "--igvm", metavar="FILE", help="Explain an IGVM file instead of an OVMF launch."))
    + IGVM_OPTIONS + VCPU_OPTIONS + KERNEL_OPTIONS + (GUEST_FEATURES,) + FEATURE_FLAGS
    + (LEGACY, OVMF_HASH) + SVSM_OPTIONS + HOST_OPTIONS
    + (JSON.but(help="One JSON object per page update."),
       Opt("wide", "--wide", kind=FLAG, help="Full digests in the table."),
       Opt("all", "--all", kind=FLAG,
           help="One table row per page update (the default folds runs of pages of one kind "
                "into one row; --json always lists every update)."),
       COMPARE),
    "analysis:run_explain")

FIND_MAX_VCPUS = "256"  # find --max-vcpus when not given (a string, as options arrive)

FIND = Command(
    "find", "Find the configuration(s) of an image that produce an observed measurement.",
    (OVMF,
     Opt("measurement", "--measurement", metavar="VALUE",
         help="Observed measurement, hex or base64."),
     Opt("report", "--report", metavar="FILE",
         help="Attestation report (binary, hex or base64) whose MEASUREMENT to explain."),
     MODE.but(required=False, help="Guest mode to search (default: snp for a 48-byte "
                                   "measurement, seves and sev for 32 bytes)."))
    + KERNEL_OPTIONS + (OVMF_HASH,) + SVSM_OPTIONS + HOST_OPTIONS
    + (Opt("max_vcpus", "--max-vcpus", metavar="N", default=FIND_MAX_VCPUS,
           help="Search vCPU counts 1..N."),
       VCPUS_LIST, VCPU_TYPE_LIST, VCPU_SIG_LIST, VMM_LIST, FEATURES_LIST, LEGACY_LIST,
       JSON.but(help="Print the result as JSON.")),
    "analysis:run_find")

INSPECT = Command(
    "inspect", "What a firmware or IGVM file declares: layout, tables, metadata or directives.",
    (Opt("firmware", kind=ARGUMENT, metavar="FIRMWARE", required=True,
         help="OVMF, SVSM or IGVM file."),
     JSON),
    "analysis:run_inspect")

IGVM = Command(
    "igvm", "The launch digest of an IGVM file (SNP by default), checked against its ID block.",
    (Opt("file", kind=ARGUMENT, metavar="FILE", required=True, help="IGVM file."),)
    + IGVM_OPTIONS + IGVM_QEMU_OPTIONS
    + (Opt("ignore_id_block", "--ignore-id-block", kind=FLAG,
           help="Print the digest even when the file's ID block differs from it or does not "
                "verify (a warning)."),
       OUTPUT_FORMAT.but(metavar="hex|base64|json"),
       VERBOSE.but(help="Print 'Calculated <PLATFORM> IGVM measurement: ...'.")),
    "igvm:run_igvm")

REPORT_SHOW = Command(
    "show", "Print every field of an attestation report, decoded.",
    (REPORT_FILE, JSON,
     PRODUCT.but(help="Product line, for reports that do not name it (version 2); must agree "
                      "with the report's CPUID fields.")), "report:run_show")

REPORT_VERIFY = Command(
    "verify", "Check a report: its signature and chain to a pinned AMD root, then the expected "
              "measurement and fields.\n\nExit codes: 0 verified (the signature checked with "
              "a VCEK/VLEK that chains to a trusted root, and every expectation met), 8 not "
              "authenticated, 6 authentic but an expectation failed, 2 bad flags, 3 unreadable "
              "file, 4 malformed input.",
    (REPORT_FILE,
     Opt("vcek", "--vcek", metavar="CERT",
         help="The VCEK or VLEK certificate (PEM or DER; a PEM bundle may also hold its "
              "chain)."),
     Opt("certs", "--certs", kind=MULTI, metavar="TABLE|DIR",
         help="Certificates from the host: an extended-report certificate table (configfs-tsm "
              "auxblob, as 'report get --certs-out' writes it) or a directory of "
              "vcek/vlek/ask/asvk/ark .der or .pem files (snpguest's layout). Repeatable."),
     Opt("ca", "--ca", kind=MULTI, metavar="BUNDLE",
         help="More intermediate certificates (ASK or ASVK), PEM; they are used only if they "
              "chain to a trusted root. Repeatable."),
     Opt("trust_root", "--trust-root", kind=MULTI, metavar="ARK",
         help="Trust this root (ARK-<product>) besides AMD's pinned roots: private test or "
              "cloud hierarchies. Repeatable; named in the result."),
     Opt("crl", "--crl", kind=MULTI, metavar="FILE",
         help="AMD's CRL for the product (DER or PEM): signature, issuer and freshness are "
              "checked, and the chain's intermediate must not be revoked. Repeatable."),
     Opt("require_crl", "--require-crl", kind=FLAG,
         help="Fail unless a current CRL from the chain's ARK was given."),
     Opt("at", "--at", metavar="TIME",
         help="Check certificate and CRL validity at this ISO 8601 time (default: now)."),
     Opt("cache", "--cache", metavar="DIR",
         help="Look the VCEK, chain and CRL up in this store (filled by 'snpmeasure kds "
              "fetch'), offline."),
     Opt("allow_masked_chip_id", "--allow-masked-chip-id", kind=FLAG,
         help="Accept a report whose CHIP_ID is masked (all zero), which the VCEK's hwID "
              "cannot then be compared with."),
     Opt("measurement", "--measurement", kind=MULTI, metavar="VALUE",
         help="An expected measurement (hex or base64); repeat for several."),
     Opt("manifest", "--manifest", kind=MULTI, metavar="FILE",
         help="A manifest from 'snpmeasure manifest' (plain or signed): the measurement must "
              "be one of its entries. Repeatable: an entry of any of them."),
     MANIFEST_KEY,
     Opt("host_data", "--host-data", metavar="VALUE",
         help="Expected HOST_DATA (32 bytes, hex or base64)."),
     Opt("report_data", "--report-data", metavar="VALUE",
         help="Expected REPORT_DATA: 1 to 64 bytes, hex or base64; shorter values must be "
              "followed by zeros."),
     Opt("nonce_hex", "--nonce-hex", metavar="HEX",
         help="The nonce the verifier chose: REPORT_DATA must be its SHA-512 (as 'report get "
              "--nonce-hex' binds it)."),
     Opt("nonce", "--nonce", metavar="FILE", help="As --nonce-hex, the nonce read from FILE."),
     Opt("id_key", "--id-key", metavar="KEY", help="Expected ID key (key or certificate file)."),
     Opt("author_key", "--author-key", metavar="KEY",
         help="Expected author key (key or certificate file)."),
     Opt("id_key_digest", "--id-key-digest", metavar="VALUE",
         help="Expected ID_KEY_DIGEST (48 bytes)."),
     Opt("author_key_digest", "--author-key-digest", metavar="VALUE",
         help="Expected AUTHOR_KEY_DIGEST."),
     Opt("family_id", "--family-id", metavar="ID", help="Expected family ID (hex or UUID)."),
     Opt("image_id", "--image-id", metavar="ID", help="Expected image ID (hex or UUID)."),
     Opt("min_guest_svn", "--min-guest-svn", metavar="N", help="Minimum guest SVN."),
     Opt("min_tcb", "--min-tcb", metavar="NAME=N,...",
         help="Minimum reported TCB, e.g. bl=3,tee=0,snp=8,ucode=115 (long names boot_loader, "
              "tee, snp, microcode, fmc also accepted)."),
     Opt("policy", "--policy", metavar="VALUE", help="Exact expected guest policy."),
     Opt("deny_debug", "--deny-debug", kind=FLAG, help="Fail if the policy allows debugging."),
     Opt("deny_migrate_ma", "--deny-migrate-ma", kind=FLAG,
         help="Fail if the policy allows a migration agent."),
     Opt("smt", "--smt", metavar="on|off",
         help="Required value of the guest policy's SMT-allowed bit (16); not the host's SMT "
              "state (PLATFORM_INFO, which export --smt publishes)."),
     Opt("require_single_socket", "--require-single-socket", kind=FLAG,
         help="Fail unless the policy is single-socket."),
     Opt("min_abi", "--min-abi", metavar="MAJOR.MINOR",
         help="Minimum ABI version the policy requires."),
     Opt("vmpl", "--vmpl", metavar="N", help="Expected VMPL of the report's requester."),
     PRODUCT,
     JSON.but(help="Print the checks as JSON.")),
    "report:run_verify")

REPORT_GET = Command(
    "get", "Get an attestation report inside an SEV-SNP guest (Linux configfs-tsm).",
    (Opt("report_data", "--report-data", metavar="VALUE",
         help="REPORT_DATA: 1 to 64 bytes, hex or base64, zero-padded to 64."),
     Opt("nonce_hex", "--nonce-hex", metavar="HEX",
         help="A verifier's nonce in hex: REPORT_DATA is its SHA-512."),
     Opt("nonce", "--nonce", metavar="FILE", help="As --nonce-hex, the nonce read from FILE."),
     Opt("vmpl", "--vmpl", metavar="N",
         help="Privilege level (VMPL 0-3) of the request (configfs-tsm privlevel)."),
     Opt("output", "-o", "--output", metavar="FILE",
         help="Write the report here (default: stdout, in hex)."),
     Opt("output_format", "--output-format", metavar="binary|hex|base64",
         help="Report encoding: binary (the default with -o), hex or base64."),
     Opt("certs_out", "--certs-out", metavar="FILE",
         help="Also write the host's certificate table (the extended report's auxblob) here, "
              "when the host supplies one; 'report verify --certs' reads it."),
     Opt("configfs", "--configfs", metavar="DIR", default="/sys/kernel/config/tsm/report",
         help="The configfs-tsm report directory."),
     FORCE),
    "evidence:run_get")

KDS_URL_OPT = Opt("kds_url", "--kds-url", metavar="URL", default="https://kdsintf.amd.com",
                  help="AMD's Key Distribution Service, or a mirror of it.")
KDS_PRODUCT = PRODUCT.but(help="Product line, for version 2 reports (which carry no CPUID).")

KDS_URL_CMD = Command(
    "url", "Print the KDS addresses of a report's VCEK, certificate chain and CRL (no network).",
    (REPORT_FILE, KDS_PRODUCT, KDS_URL_OPT, JSON),
    "kds:run_url")

KDS_FETCH = Command(
    "fetch", "Download a report's VCEK, certificate chain and CRL from KDS into a cache, "
             "verified against AMD's pinned roots; reuse what the cache holds.",
    (REPORT_FILE,
     Opt("cache", "--cache", metavar="DIR", required=True,
         help="The cache directory (created if missing; layout in docs/node-admission.md)."),
     KDS_PRODUCT, KDS_URL_OPT,
     Opt("trust_root", "--trust-root", kind=MULTI, metavar="ARK",
         help="Also trust this root for the fetched chain (private mirrors and tests)."),
     Opt("timeout", "--timeout", metavar="SECONDS", default="30",
         help="Time limit of each request, the whole answer included (1..600)."),
     Opt("retries", "--retries", metavar="N", default="4",
         help="Retries after HTTP 429 or 5xx (bounded exponential backoff, honouring "
              "Retry-After up to 60 s)."),
     JSON),
    "kds:run_fetch")

EXPORT = Command(
    "export", "Reference values from manifests in the forms verifiers read: a Trustee RVPS "
              "message, or a CoRIM (COSE-signed with --sign) for Veraison and RATS verifiers.",
    (Opt("format", "--format", metavar="rvps|corim",
         help="rvps: the message Trustee's RVPS registers (sample extractor); corim: an "
              "unsigned CoRIM (CBOR tag 501) per the AMD SEV-SNP CoRIM profile, or COSE_Sign1 "
              "with --sign."),
     Opt("manifest", "--manifest", kind=MULTI, metavar="FILE",
         help="A manifest from 'snpmeasure manifest' (repeatable; the SEV-SNP entries are "
              "used)."),
     MANIFEST_KEY,
     Opt("measurement_encoding", "--measurement-encoding", metavar="hex|base64", default="hex",
         help="rvps: how to spell snp_launch_measurement: hex (Trustee v0.18.0 and later) or "
              "base64 (v0.10 to v0.17)."),
     Opt("min_tcb", "--min-tcb", metavar="NAME=N,...",
         help="Minimum reported TCB, e.g. bl=3,tee=0,snp=8,ucode=115 or the long names "
              "boot_loader, microcode, fmc (rvps: snp_bootloader and "
              "kin; corim: REPORTED_TCB as one TCB_VERSION, a min-svn)."),
     Opt("policy", "--policy", metavar="VALUE",
         help="The guest policy the launches use (rvps: ABI version, single socket, SMT "
              "allowed; corim: POLICY)."),
     Opt("smt", "--smt", metavar="on|off",
         help="rvps: whether the hosts run with SMT on (PLATFORM_INFO; snp_smt_enabled); not "
              "the policy's SMT-allowed bit, which --policy gives."),
     Opt("tsme", "--tsme", metavar="on|off",
         help="rvps: the hosts' TSME state (snp_tsme_enabled)."),
     Opt("vlek", "--vlek", kind=FLAG,
         help="corim: the reports are VLEK-signed (class-id for the CSP, not the chip)."),
     Opt("chip_id", "--chip-id", metavar="HEX",
         help="corim: bind the values to one chip: its CHIP_ID (64 bytes, hex), the "
              "environment's instance."),
     Opt("csp_id", "--csp-id", metavar="NAME",
         help="corim with --vlek: bind the values to one CSP: its CSP_ID (the VLEK's csp_id)."),
     PRODUCT.but(help="corim with --min-tcb: the product whose TCB layout entries without "
                      "a CPU (EC2) use; entries with one use their own product's."),
     Opt("sign", "--sign", metavar="KEY",
         help="corim: sign the CoRIM (COSE_Sign1) with this private key (ECDSA P-256/P-384 or "
              "Ed25519)."),
     Opt("signer_name", "--signer-name", metavar="NAME", default="snpmeasure",
         help="corim: the signer name in the COSE header's CoRIM metadata."))
    + _passphrase_options("sign", "the signing key's")
    + (Opt("output", "-o", "--output", metavar="FILE",
           help="Write to FILE (atomically) instead of stdout."),
       FORCE),
    "export:run_export")

COMPLETION = Command(
    "completion", "Print the shell completion script for bash, zsh or fish, e.g. "
                  "eval \"$(snpmeasure completion bash)\" in ~/.bashrc.",
    (Opt("shell", kind=ARGUMENT, metavar="bash|zsh|fish", required=True,
         help="The shell to complete in."),),
    "completion:run_completion")

COMMANDS = (MEASURE, ID_BLOCK, SNP_CREATE_ID_BLOCK, KEY_DIGEST, MANIFEST, EXPLAIN, FIND, INSPECT,
            IGVM, EXPORT, COMPLETION)
GROUPS = {"report": ("Get, decode and verify SEV-SNP attestation reports.",
                     (REPORT_GET, REPORT_SHOW, REPORT_VERIFY)),
          "kds": ("AMD's Key Distribution Service: certificate addresses, and a verified local "
                  "cache.", (KDS_URL_CMD, KDS_FETCH))}
