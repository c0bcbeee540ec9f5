"""The runtime codecs are derived from the construct declarations and must stay equal to them."""
from __future__ import annotations

import random
import struct

import pytest

from snpmeasure.abi import codegen
from snpmeasure.abi._generated import LAYOUTS
from snpmeasure.abi.codec import CodecError, codec


def test_generated_file_is_current():
    assert codegen.GENERATED.read_text() == codegen.render(), \
        "run: python -m snpmeasure.abi.codegen"


def random_record(fast, rng) -> dict:
    """Random values for every field of a layout (constants are added by ``build``)."""
    record: dict = {}
    values = struct.unpack(fast.format, rng.randbytes(fast.size))
    for name, value in zip(fast.names, values):
        target = record
        *parents, last = name.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return record


@pytest.mark.parametrize("key", sorted(LAYOUTS))
def test_codec_parses_and_builds_like_construct(key):
    module, name = key.split(".")
    layout = getattr(__import__(f"snpmeasure.abi.{module}", fromlist=[name]), name)
    fast = codec(key)
    assert fast.size == layout.sizeof()
    rng = random.Random(key)
    for _ in range(5):
        data = fast.build(random_record(fast, rng))  # a valid record, constants in place
        expected = layout.parse(data)
        got = fast.parse(data)
        assert _plain(got) == _plain(expected)
        assert layout.build(expected) == data == fast.build(got)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def test_codec_refuses_short_data_and_wrong_constants():
    with pytest.raises(CodecError):
        codec("ovmf.SevMetadataHeader").parse(b"ASEV")
    with pytest.raises(CodecError):
        codec("ovmf.SevMetadataHeader").parse(b"XSEV" + bytes(12))
    with pytest.raises(KeyError):
        codec("ovmf.SevMetadataSection").build({"gpa": 1, "size": 2})


def test_measure_path_does_not_import_construct_or_typer():
    import subprocess
    import sys

    from conftest import ROOT, SAMPLES
    code = ("import sys; from snpmeasure.cli.main import main; "
            f"rc = main(['measure', '--mode', 'snp', '--vcpus', '2', '--vcpu-type', 'EPYC', "
            f"'--ovmf', {str(SAMPLES / 'OVMF.amdsev.fd')!r}]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('construct', 'typer', 'cryptography', 'click', 'rich', 'dataclasses', 'tempfile')), file=sys.stderr); "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]", result.stderr
