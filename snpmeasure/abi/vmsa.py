"""The VMSA: the 4 KiB SEV-ES/SEV-SNP save area holding a vCPU's initial state.

Field names and offsets follow Linux ``arch/x86/include/asm/svm.h`` ``struct sev_es_save_area``
(AMD APM vol. 2, table B-4). Every byte of the page is declared; reserved ranges are zero.
"""
from __future__ import annotations

from functools import lru_cache

from . import lazy_layouts

VMSA_SIZE = 4096
SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr")
BYTE_FIELDS = {"fpreg_x87": 80, "fpreg_xmm": 256, "fpreg_ymm": 256}


@lru_cache(maxsize=None)
def declarations() -> dict:
    from construct import Bytes, Int8ul, Int16ul, Int32ul, Int64ul, Padding, Struct

    def _u64(*names: str) -> list:
        return [name / Int64ul for name in names]

    VmcbSegment = Struct(
        "selector" / Int16ul,
        "attrib" / Int16ul,
        "limit" / Int32ul,
        "base" / Int64ul,
    )

    SevEsSaveArea = Struct(
        *[name / VmcbSegment for name in SEGMENTS],             # 0x000
        *_u64("vmpl0_ssp", "vmpl1_ssp", "vmpl2_ssp", "vmpl3_ssp", "u_cet"),  # 0x0A0
        Padding(2),                                              # 0x0C8 reserved
        "vmpl" / Int8ul,                                         # 0x0CA
        "cpl" / Int8ul,                                          # 0x0CB
        Padding(4),                                              # 0x0CC reserved
        "efer" / Int64ul,                                        # 0x0D0
        Padding(104),                                            # 0x0D8 reserved
        *_u64("xss", "cr4", "cr3", "cr0", "dr7", "dr6", "rflags", "rip"),  # 0x140
        *_u64("dr0", "dr1", "dr2", "dr3",
              "dr0_addr_mask", "dr1_addr_mask", "dr2_addr_mask", "dr3_addr_mask"),  # 0x180
        Padding(24),                                             # 0x1C0 reserved
        *_u64("rsp", "s_cet", "ssp", "isst_addr", "rax", "star", "lstar", "cstar", "sfmask",
              "kernel_gs_base", "sysenter_cs", "sysenter_esp", "sysenter_eip", "cr2"),  # 0x1D8
        Padding(32),                                             # 0x248 reserved
        *_u64("g_pat", "dbgctl", "br_from", "br_to", "last_excp_from", "last_excp_to"),  # 0x268
        Padding(80),                                             # 0x298 reserved
        "pkru" / Int32ul,                                        # 0x2E8
        "tsc_aux" / Int32ul,                                     # 0x2EC
        Padding(24),                                             # 0x2F0 reserved
        *_u64("rcx", "rdx", "rbx"),                              # 0x308
        Padding(8),                                              # 0x320 reserved
        *_u64("rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"),  # 0x328
        Padding(16),                                             # 0x380 reserved
        *_u64("guest_exit_info_1", "guest_exit_info_2", "guest_exit_int_info", "guest_nrip",
              "sev_features", "vintr_ctrl", "guest_exit_code", "virtual_tom", "tlb_id",
              "pcpu_id", "event_inj", "xcr0"),                   # 0x390
        Padding(16),                                             # 0x3F0 reserved
        "x87_dp" / Int64ul,                                      # 0x400
        "mxcsr" / Int32ul,                                       # 0x408
        "x87_ftw" / Int16ul,                                     # 0x40C
        "x87_fsw" / Int16ul,                                     # 0x40E
        "x87_fcw" / Int16ul,                                     # 0x410
        "x87_fop" / Int16ul,                                     # 0x412
        "x87_ds" / Int16ul,                                      # 0x414
        "x87_cs" / Int16ul,                                      # 0x416
        "x87_rip" / Int64ul,                                     # 0x418
        "fpreg_x87" / Bytes(BYTE_FIELDS["fpreg_x87"]),                                 # 0x420
        "fpreg_xmm" / Bytes(BYTE_FIELDS["fpreg_xmm"]),                                # 0x470
        "fpreg_ymm" / Bytes(BYTE_FIELDS["fpreg_ymm"]),                                # 0x570
        Padding(2448),                                           # 0x670 manual padding to 4 KiB
    )
    return {"VmcbSegment": VmcbSegment, "SevEsSaveArea": SevEsSaveArea}


__getattr__ = lazy_layouts(declarations)
