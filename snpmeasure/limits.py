"""Resource limits: every claimed size is checked against these before anything is allocated.

Documented in docs/security.md. Each is far above what real inputs need.
"""
MAX_FIRMWARE_FILE = 256 << 20      # OVMF and SVSM images (real ones are 2 to 8 MiB)
MAX_SMALL_FILE = 1 << 20           # keys, certificates, passphrase files, reports
MAX_MANIFEST_FILE = 64 << 20       # manifests given to report verify
MAX_STDIN = 4 << 30                # standard input ('-'), copied to a temporary file once
MAX_IGVM_HEADER_SECTION = 64 << 20  # the IGVM variable headers, read whole
MAX_PAGE_UPDATES = 1 << 20         # page updates of one launch (4 GiB of guest memory)
MAX_MATRIX_ENTRIES = 1 << 20       # manifest entries and find candidates
MAX_LIST_VALUES = 1 << 16         # values of one list option (--vcpus 1-64,...)
MAX_VCPUS = 4096                   # KVM_MAX_VCPUS on x86-64 with CONFIG_MAXSMP
MAX_CERT_TABLE = 1 << 20           # an extended-report certificate table (auxblob); Linux caps
                                   # it at SEV_FW_BLOB_MAX_SIZE (16 KiB) in practice
MAX_CERT_TABLE_ENTRIES = 64        # entries of one table (AMD defines five GUIDs)
MAX_TRUST_ROOTS = 64               # --trust-root and --crl files
MAX_ID_BLOCK_BATCH = 1 << 12       # ID block/ID_AUTH pairs of one id-block --manifest run
MAX_BATCH_FILES = 1 << 14          # files in a directory --force may replace (a batch of
                                   # MAX_ID_BLOCK_BATCH pairs holds 8193)
MAX_CORIM = 8 << 20                # a CoRIM (signed or not) read or written
MAX_SEV_METADATA_SECTIONS = 256    # SEV metadata section descriptors of one firmware image
                                   # (edk2's OvmfSevMetadata.asm declares fewer than ten)
MAX_IGVM_PLATFORMS = 32            # SUPPORTED_PLATFORM headers: one per compatibility-mask bit
                                   # (libigvm wants a single bit and one header per platform)
MAX_IGVM_PARAMETER_AREAS = 1 << 12  # PARAMETER_AREA headers of one IGVM file (QEMU allocates
                                    # each in host memory; real files declare a handful)
MAX_INSPECT_HEADERS = 1 << 14      # IGVM headers inspect lists one by one; the rest are
                                   # counted (header_count, headers_omitted)
