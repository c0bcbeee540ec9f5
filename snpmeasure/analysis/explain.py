"""Page-by-page explanations of a measurement, and where two configurations diverge."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from collections.abc import Iterable, Iterator

from ..abi.snp import PageType
from ..engine.sev import SevLaunchDigest
from ..engine.snp import SnpLaunchDigest, page_contents_digest
from ..launch.config import MeasurementConfig, Mode
from ..launch.hoststack import feature_names
from ..launch.ovmf import LaunchInputs, load_inputs, sev_parts, snp_plan, snp_seed, vmsa_pages
from ..launch.plan import PageUpdate, firmware_pages
from ..launch.vmsa import parse_vmsa


@dataclass(frozen=True)
class Step:
    """One measured update and the digest after it."""

    index: int
    gpa: int | None
    kind: str              # SNP page type name, or FIRMWARE / KERNEL_HASHES / VMSA for SEV(-ES)
    source: str            # what the page or blob is
    contents: bytes        # SNP: the PAGE_INFO contents field; SEV: SHA-256 of the blob
    digest: bytes          # the launch digest after this step
    vmsa: bytes | None = None
    rules: tuple[str, ...] = ()  # the host-stack rules (launch.hoststack.RULES) that decided it

    def to_json(self) -> dict:
        return {"index": self.index, "gpa": None if self.gpa is None else f"{self.gpa:#x}",
                "page_type": self.kind, "source": self.source, "contents": self.contents.hex(),
                "digest": self.digest.hex(), "rules": list(self.rules)}


_OFFSET = re.compile(r" \+0x[0-9a-f]+(?= \[|$)")


@dataclass(frozen=True)
class Run:
    """Consecutive steps of one kind and source, at consecutive page addresses (a firmware
    image, a metadata section), shown as one row by ``explain`` without ``--all``."""

    first: Step
    last: Step
    source: str            # the steps' source without the page offset

    @property
    def count(self) -> int:
        return self.last.index - self.first.index + 1


def runs(steps) -> Iterator[Run]:
    """Fold ``steps`` into runs: same kind, same source apart from the page offset, each page
    4 KiB after the one before. VMSAs and SEV blobs stay one row each."""
    current: list = []
    for step in steps:
        stem = _OFFSET.sub("", step.source)
        if current:
            first, last, last_stem = current
            if (step.kind == last.kind and stem == last_stem and step.kind != "VMSA"
                    and step.gpa is not None and last.gpa is not None
                    and step.gpa == last.gpa + 0x1000):
                current = [first, step, stem]
                continue
            yield Run(first, last, last_stem)
        current = [step, step, stem]
    if current:
        yield Run(current[0], current[1], current[2])


@dataclass(frozen=True)
class Explanation:
    config: MeasurementConfig | None
    seed: bytes | None
    steps: tuple[Step, ...]
    decisions: tuple[tuple[str, str, str], ...] = ()  # (what, value, rule)

    @property
    def measurement(self) -> bytes:
        return self.steps[-1].digest if self.steps else (self.seed or b"")


def explain(config: MeasurementConfig, inputs: LaunchInputs | None = None) -> Explanation:
    inputs = inputs or load_inputs(config)
    decisions = tuple(host_decisions(inputs))
    steps = tuple(_with_decisions(step, decisions) for step in _steps(inputs))
    return Explanation(config, snp_seed(config) if config.mode.is_snp else None, steps,
                       decisions)


# which host decisions (host_decisions' "what") shape which updates
_DECIDES = {"firmware": "FIRMWARE", "kernel": "KERNEL_HASHES", "VM type": "VMSA",
            "VMSA address": "VMSA", "SEV features": "VMSA", "vCPU signature": "VMSA"}


def _with_decisions(step: Step, decisions) -> Step:
    """The step with the rules of the host decisions that shaped it added to its own: the
    firmware's size rule on firmware pages, the kernel rule on the hashes table, the VM type,
    VMSA address, SEV features and CPU rules on each VMSA."""
    part = "FIRMWARE" if step.source.startswith("firmware") else \
        "KERNEL_HASHES" if "kernel hashes" in step.source else \
        "VMSA" if step.kind == "VMSA" else None
    rules = tuple(rule for what, _, rule in decisions if rule and _DECIDES.get(what) == part)
    return replace(step, rules=tuple(dict.fromkeys(rules + step.rules))) if rules else step


def host_decisions(inputs: LaunchInputs) -> Iterator[tuple[str, str, str]]:
    """What the host stack decided for this launch, and the rule that decided it."""
    config = inputs.config
    mode, profile = config.mode, config.profile
    stack = f"QEMU {config.qemu_version}" if profile.is_qemu else profile.name
    checks = "" if config.host_checks else " (host checks skipped: --no-host-checks)"
    yield "host stack", stack + checks, ""
    if profile.is_qemu and mode is not Mode.SNP_SVSM:
        yield "firmware", f"-bios image of {inputs.firmware.size} bytes (whole 64 KiB " \
            "blocks)" if mode.is_snp or not config.effective_legacy_vm_type \
            else f"{inputs.firmware.size} bytes (pflash or -bios)", "bios-size"
        if config.kernel and mode is not Mode.SNP_OVMF_HASH:
            yield "kernel", "bzImage: QEMU adds the kernel hashes table", "bzimage"
    if not mode.has_vmsa:
        return
    if profile.has_legacy_vm_type:
        legacy = config.effective_legacy_vm_type
        rule = "legacy-option" if config.legacy_vm_type is not None and mode is Mode.SNP \
            else "seves-vm-type" if legacy and mode is Mode.SEV_ES else "init2-fpu"
        yield "VM type", ("legacy KVM_SEV_(ES_)INIT: x87_fcw 0, mxcsr 0" if legacy else
                          "KVM_SEV_INIT2: x87_fcw 0x37f, mxcsr 0x1f80"), rule
    if mode.is_snp and profile.vmsa_gpa_bits is not None:
        yield "VMSA address", f"{config.vmsa_gpa:#x} ({config.product or 'Milan assumed'})", \
            "gce-vmsa-gpa"
    elif mode.is_snp:
        yield "VMSA address", f"{config.vmsa_gpa:#x}", "vmsa-gpa"
    if mode.is_snp:
        yield "SEV features", f"{config.guest_features:#x} " \
            f"({feature_names(config.guest_features)})", "sev-features"
    if profile.needs_vcpu_signature and config.vcpu_sig is not None:
        named = f"{config.vcpu_type}, " if config.vcpu_type else ""
        yield "vCPU signature", f"{config.vcpu_sig:#x} ({named}RDX of every VMSA)", \
            "cpu-model" if config.vcpu_type else "cpu-signature"


def _steps(inputs: LaunchInputs) -> Iterator[Step]:
    config = inputs.config
    mode = config.mode
    if mode is Mode.SNP_OVMF_HASH:
        return snp_steps(bytes(48), firmware_pages(inputs.firmware))
    vmsas = vmsa_pages(inputs) if mode.has_vmsa else ()
    if mode.is_snp:
        return snp_steps(snp_seed(config), snp_plan(inputs, vmsas))
    return sev_steps(sev_parts(inputs, vmsas))


_RULE_TAG = re.compile(r" \[rules? ([a-z0-9, -]+)\]$")


def _rules_of(source: str) -> tuple[str, ...]:
    """The rules a plan named at the end of a source label ("... [rule igvm-page-data]")."""
    match = _RULE_TAG.search(source)
    return tuple(match.group(1).split(", ")) if match else ()


def snp_steps(seed: bytes, updates: Iterable[PageUpdate]) -> Iterator[Step]:
    """The steps of an SNP plan: each update folded into the digest, one by one."""
    engine = SnpLaunchDigest(seed)
    for index, update in enumerate(updates):
        contents = page_contents_digest(update)
        engine.extend(update.page_type, update.gpa, contents)
        page = bytes(update.data) if update.page_type is PageType.VMSA else None
        yield Step(index, update.gpa, update.page_type.name, update.source, contents,
                   engine.digest, page, _rules_of(update.source))


def sev_steps(parts: Iterable[tuple]) -> Iterator[Step]:
    """The steps of a SEV/SEV-ES plan given as (kind, GPA, source, blob)."""
    state = SevLaunchDigest()
    for index, (kind, gpa, source, blob) in enumerate(parts):
        state.update(blob)
        yield Step(index, gpa, kind, source, hashlib.sha256(blob).digest(), state.digest,
                   blob if kind == "VMSA" else None, _rules_of(source))


@dataclass(frozen=True)
class Divergence:
    index: int
    first: Step | None
    second: Step | None
    reasons: tuple[str, ...]


def vmsa_differences(first: bytes, second: bytes) -> list[str]:
    a, b = parse_vmsa(first), parse_vmsa(second)
    out = []
    for name in a:
        if a[name] != b[name]:
            if isinstance(a[name], dict):
                for sub in a[name]:
                    if a[name][sub] != b[name][sub]:
                        out.append(f"{name}.{sub} {a[name][sub]:#x} -> {b[name][sub]:#x}")
            elif isinstance(a[name], bytes):
                out.append(f"{name} differs")
            else:
                out.append(f"{name} {a[name]:#x} -> {b[name]:#x}")
    return out


def compare(first: Explanation, second: Explanation) -> Divergence | None:
    """The first update after which the two digests differ, and why; None if they are equal."""
    modes = [e.config.mode for e in (first, second) if e.config is not None]
    if len(modes) == 2 and modes[0] is not modes[1]:
        a, b = modes
        how = "" if a.is_snp == b.is_snp else (
            ": SEV-SNP chains SHA-384 page records, SEV and SEV-ES hash their blobs with "
            "SHA-256, so the values cannot be compared")
        return Divergence(0, first.steps[0] if first.steps else None,
                          second.steps[0] if second.steps else None,
                          (f"the modes differ ({a.value} vs {b.value}){how}",))
    if first.seed != second.seed:
        return Divergence(-1, None, None, ("the seeds (--snp-ovmf-hash) differ",))
    for index in range(max(len(first.steps), len(second.steps))):
        a = first.steps[index] if index < len(first.steps) else None
        b = second.steps[index] if index < len(second.steps) else None
        if a is not None and b is not None and a.digest == b.digest:
            continue
        return Divergence(index, a, b, tuple(_reasons(a, b, first, second, index)))
    return None


def _reasons(a: Step | None, b: Step | None, first: Explanation, second: Explanation,
             index: int) -> list[str]:
    if a is None or b is None:
        longer, which = (second, "second") if a is None else (first, "first")
        extra = longer.steps[index:]
        names = ", ".join(s.source for s in extra[:4]) + (", ..." if len(extra) > 4 else "")
        return [f"the {which} configuration has {len(extra)} more update(s): {names}"]
    reasons = []
    if a.gpa != b.gpa:
        reasons.append(f"GPA {a.gpa:#x} ({a.source}) vs {b.gpa:#x} ({b.source})"
                       if a.gpa is not None and b.gpa is not None else "different updates")
    if a.kind != b.kind:
        reasons.append(f"page type {a.kind} vs {b.kind} ({a.source} / {b.source})")
    if a.contents != b.contents:
        if a.vmsa is not None and b.vmsa is not None:
            fields = vmsa_differences(a.vmsa, b.vmsa)
            reasons.append(f"{a.source}: " + ", ".join(fields))
        else:
            reasons.append(f"contents of {a.source} differ" +
                           (f" from {b.source}" if b.source != a.source else ""))
            if "kernel hashes" in a.source.lower() or a.kind == "KERNEL_HASHES":
                reasons += kernel_hash_differences(first.config, second.config)
    if not reasons:
        reasons.append("an earlier difference (the chains differ before this update)")
    return reasons


def kernel_hash_differences(first: MeasurementConfig | None,
                            second: MeasurementConfig | None) -> list[str]:
    """Which of the three SHA-256 values of the kernel hashes table differ (kernel, initrd,
    command line), read from the two configurations' inputs."""
    from ..launch.kernel_hashes import KernelHashes

    if first is None or second is None or not first.kernel or not second.kernel:
        return ["one configuration has no kernel (no hashes table)"] \
            if first is not None and second is not None else []
    a = KernelHashes.from_inputs(first.kernel, first.initrd, first.append)
    b = KernelHashes.from_inputs(second.kernel, second.initrd, second.append)
    out = []
    for name in ("kernel", "initrd", "cmdline"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            out.append(f"the {name} hash differs: {x.hex()} vs {y.hex()}")
    return out


def explain_igvm(path, options) -> Explanation:
    """Every page update an IGVM file's directives produce, with the running digest."""
    from ..abi.igvm import Platform
    from ..formats.igvm import IgvmFile
    from ..launch.igvm import PLATFORMS, sev_blobs, snp_updates

    decisions: tuple = ()
    if options.loader == "qemu":
        decisions = (("loader", f"QEMU {options.qemu_version} (-object igvm-cfg)" + (
            "" if options.host_checks else " (host checks skipped: --no-host-checks)"), ""),
                     ("guest", f"{options.platform}, {options.vcpus} vCPU(s)", "igvm-platform"))
        if options.platform == "sev-es":
            decisions += (("VM type", "legacy KVM_SEV_ES_INIT" if
                           options.effective_legacy_vm_type else "KVM_SEV_INIT2",
                           "seves-vm-type"),)
    with IgvmFile(path) as igvm:
        platform = PLATFORMS[options.platform]
        if platform is Platform.SEV_SNP:
            return Explanation(None, bytes(48), tuple(snp_steps(bytes(48), snp_updates(
                igvm, options))), decisions)
        return Explanation(None, None, tuple(sev_steps(sev_blobs(igvm, options))), decisions)
