from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SAMPLES = ROOT / "ovmf_samples"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def firmware_path(name: str) -> Path:
    """A firmware file named in vectors.json (the full Debian OVMF lives in ovmf_samples/)."""
    return SAMPLES / name if (SAMPLES / name).exists() else DATA / name


@pytest.fixture(scope="session")
def vectors():
    return json.loads((DATA / "vectors.json").read_text())


@pytest.fixture(scope="session")
def empty_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("empty") / "empty"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def bzimage(tmp_path_factory):
    """The smallest kernel QEMU loads as a bzImage: the boot protocol's "HdrS" magic at 0x202
    (Linux Documentation/arch/x86/boot.rst; QEMU hw/i386/x86-common.c x86_load_linux())."""
    path = tmp_path_factory.mktemp("bzimage") / "vmlinuz"
    image = bytearray(0x1000)
    image[0x202:0x206] = b"HdrS"
    path.write_bytes(bytes(image))
    return path
