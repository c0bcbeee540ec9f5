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
