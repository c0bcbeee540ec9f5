"""Side-by-side benchmarks of snpmeasure and sev-snp-measure 0.0.13 (issue 7's scenarios).

    pip install '.[bench]' && python benchmarks/run.py [--repeat N] [--quick]

Prepares its inputs in a temporary directory, runs every scenario several times for both tools
(installed console scripts, as users run them), and prints medians, peak RSS (from wait4, the
operating system's accounting) and the ratios against the targets, plus this machine's SHA-384
limit. Nothing here is asserted by the tests: benchmarks measure, tests check behaviour.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVMF = os.path.join(ROOT, "ovmf_samples", "OVMF.amdsev.fd")
BIN = os.path.dirname(sys.executable)
OURS = shutil.which("snpmeasure", path=BIN) or shutil.which("snpmeasure")
PEER = shutil.which("sev-snp-measure", path=BIN) or shutil.which("sev-snp-measure")


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss


def median_run(cmd: list[str], repeat: int) -> tuple[float, int]:
    runs = [run(cmd) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), max(r for _, r in runs)


def write_random(path: str, size: int) -> None:
    rng = random.Random(size)
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(rng.randbytes(1 << 20))


def large_inputs(work: str, repeat: int) -> list[str]:
    kernel, initrd = os.path.join(work, "vmlinuz"), os.path.join(work, "initrd.img")
    write_random(kernel, 12 << 20)
    with open(kernel, "r+b") as handle:  # a bzImage header, which QEMU needs for kernel hashes
        handle.seek(0x202)
        handle.write(b"HdrS")
    write_random(initrd, 512 << 20)
    args = ["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", OVMF,
            "--kernel", kernel, "--initrd", initrd, "--append", "console=ttyS0"]
    ours = median_run([OURS, "measure", *args], repeat)
    peer = median_run([PEER, *args], repeat)
    return ["1. large inputs (4 MiB OVMF, 12 MiB kernel, 512 MiB initrd, 4 vCPUs, snp)",
            f"   snpmeasure {ours[0]:.3f} s, peak RSS {ours[1] / 1024:.1f} MiB "
            f"(target <= 64 MiB)",
            f"   peer       {peer[0]:.3f} s, peak RSS {peer[1] / 1024:.1f} MiB",
            f"   wall ratio {ours[0] / peer[0]:.2f} (target <= 0.70)"]


def startup(repeat: int) -> list[str]:
    args = ["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-Genoa", "--ovmf", OVMF]
    # interleaved, so that both tools meet the same machine state (start-up times are a few
    # tens of milliseconds, where a background burst shows)
    runs = [(run([OURS, "measure", *args]), run([PEER, *args])) for _ in range(repeat * 4)]
    ours = (statistics.median(o[0] for o, _ in runs), max(o[1] for o, _ in runs))
    peer = (statistics.median(p[0] for _, p in runs), max(p[1] for _, p in runs))
    version = median_run([OURS, "--version"], repeat * 4)
    helptime = median_run([OURS, "measure", "--help"], repeat)
    return ["2. small job start-up (README main job: 4 MiB OVMF, no kernel)",
            f"   snpmeasure {ours[0] * 1000:.1f} ms, peer {peer[0] * 1000:.1f} ms, "
            f"ratio {ours[0] / peer[0]:.2f} (target <= 0.75, issue 11)",
            f"   snpmeasure --version {version[0] * 1000:.1f} ms, measure --help "
            f"{helptime[0] * 1000:.1f} ms"]


def matrix(work: str, repeat: int, sample: int) -> list[str]:
    from snpmeasure.launch.cpu import CPU_TYPES
    from sevsnpmeasure.vcpu_types import CPU_SIGS
    from snpmeasure.launch.cpu import signature_of_type

    output = os.path.join(work, "manifest.json")
    args = ["manifest", "--mode", "snp", "--ovmf", OVMF, "--vcpus", "1-64", "--vcpu-type",
            "all", "--vmm-type", "QEMU,ec2,gce", "--guest-features", "0x1,0x21", "-o", output,
            "--force"]
    ours = median_run([OURS, *args], repeat)
    entries = 64 * len(CPU_TYPES) * 3 * 2  # the configurations asked for, as the peer runs them
    with open(output) as handle:  # the entries that differ (EC2 and GCE collapse the CPU)
        distinct = len(json.load(handle)["measurements"])
    rng = random.Random(1)
    times = []
    for _ in range(sample):
        cpu = rng.choice(CPU_TYPES)
        peer_cpu = ["--vcpu-type", cpu] if cpu in CPU_SIGS else \
            ["--vcpu-sig", str(signature_of_type(cpu))]
        cmd = [PEER, "--mode", "snp", "--ovmf", OVMF, "--vcpus", str(rng.randint(1, 64)),
               *peer_cpu, "--vmm-type", rng.choice(["QEMU", "ec2", "gce"]),
               "--guest-features", rng.choice(["0x1", "0x21"])]
        times.append(run(cmd)[0])
    peer_total = statistics.mean(times) * entries
    return [f"3. matrix: vCPUs 1-64 x {len(CPU_TYPES)} CPU types x QEMU/EC2/GCE x 0x1/0x21 "
            f"= {entries} configurations ({distinct} distinct manifest entries)",
            f"   snpmeasure manifest {ours[0]:.3f} s; peer {statistics.mean(times):.3f} s per "
            f"entry ({sample} sampled) -> {peer_total:.0f} s for all",
            f"   speed-up {peer_total / ours[0]:.0f}x (target >= 200x)"]


THROUGHPUT = r"""
import hashlib, os, sys, time
sys.path.insert(0, {root!r})
from snpmeasure.engine.snp import SnpLaunchDigest
from snpmeasure.formats.firmware import parse_firmware
from snpmeasure.engine.igvm import measure_igvm
from snpmeasure.launch.igvm import IgvmOptions
data = open({firmware!r}, "rb").read()
fw = parse_firmware(data, "fw")
def best(f, n={repeat}):
    out = []
    for _ in range(n):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
    return min(out)
one = best(lambda: hashlib.sha384(data).digest())
mv = memoryview(data)
pages = best(lambda: [hashlib.sha384(mv[i:i + 4096]).digest() for i in range(0, len(data), 4096)])
engine = best(lambda: SnpLaunchDigest().extend_pages(fw.gpa, fw.data))  # as measure() does
igvm = best(lambda: measure_igvm({igvm!r}))
print(one, pages, engine, igvm)
"""


def throughput(work: str, repeat: int) -> list[str]:
    firmware = os.path.join(work, "fw64.fd")
    with open(OVMF, "rb") as handle:
        ovmf = handle.read()
    rng = random.Random(64)
    with open(firmware, "wb") as handle:
        handle.write(rng.randbytes((64 << 20) - len(ovmf)))
        handle.write(ovmf)
    from snpmeasure.formats.igvm_writer import IgvmWriter
    writer = IgvmWriter().platform()
    for index in range(16384):
        writer.page_data(0x100000 + index * 4096, rng.randbytes(4096))
    igvm = os.path.join(work, "big.igvm")
    with open(igvm, "wb") as handle:
        handle.write(writer.build())
    code = THROUGHPUT.format(root=ROOT, firmware=firmware, igvm=igvm, repeat=repeat)
    lines = ["4. engine throughput: 64 MiB firmware / IGVM payload, page by page"]
    for label, cpus in (("two cores", None), ("one core", {0})):
        prefix = [] if cpus is None else ["taskset", "-c", "0"]
        if cpus is not None and not shutil.which("taskset"):
            continue
        out = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout.split()
        one, pages, engine, igvm = map(float, out)
        limit = 64 / one
        lines.append(f"   {label}: hashlib SHA-384 one buffer {limit:.0f} MiB/s, per 4 KiB page "
                     f"{64 / pages:.0f} MiB/s; engine firmware {64 / engine:.0f} MiB/s "
                     f"({one / engine:.2f}x the limit), IGVM {64 / igvm:.0f} MiB/s "
                     f"({one / igvm:.2f}x)")
    lines.append("   targets: >= 1.30x the limit with two cores, >= 0.90x on one core")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller peer sample")
    parser.add_argument("--scenario", type=int, action="append", choices=[1, 2, 3, 4],
                        help="run only this scenario (repeatable)")
    args = parser.parse_args()
    if not OURS or not PEER:
        print("install the project with its bench extra first: pip install '.[bench]'",
              file=sys.stderr)
        return 2
    repeat = 2 if args.quick else args.repeat
    work = tempfile.mkdtemp(prefix="snpmeasure-bench-")
    try:
        print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
        scenarios = {2: lambda: startup(repeat), 1: lambda: large_inputs(work, repeat),
                     3: lambda: matrix(work, repeat, 10 if args.quick else 30),
                     4: lambda: throughput(work, repeat)}
        for number, scenario in scenarios.items():
            if not args.scenario or number in args.scenario:
                print("\n".join(scenario()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
