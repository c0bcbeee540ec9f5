"""The runtime codecs are derived from the construct declarations and must stay equal to them."""
from __future__ import annotations

import random

import pytest

from snpmeasure.abi import codegen
from snpmeasure.abi._generated import LAYOUTS
from snpmeasure.abi.codec import CodecError, codec


def test_generated_file_is_current():
    assert codegen.GENERATED.read_text() == codegen.render(), \
        "run: python -m snpmeasure.abi.codegen"


@pytest.mark.parametrize("key", sorted(LAYOUTS))
def test_codec_parses_like_construct(key):
    module, name = key.split(".")
    layout = getattr(__import__(f"snpmeasure.abi.{module}", fromlist=[name]), name)
    fast = codec(key)
    assert fast.size == layout.sizeof()
    rng = random.Random(key)
    for _ in range(5):
        data = bytearray(rng.randbytes(fast.size))
        # fill constant fields with their values so that both parsers accept the data
        built = None
        try:
            expected = layout.parse(bytes(data))
        except Exception:
            values = fast.parse(bytes(data)) if not fast.consts else None
            if values is None:
                continue
            raise
        got = fast.parse(bytes(data))
        assert _plain(got) == _plain(expected)
        rebuilt = fast.build(got)
        assert rebuilt == layout.build(expected)
        built = rebuilt
        assert built is not None


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
    code = ("import sys; from snpmeasure.main import main; "
            f"rc = main(['measure', '--mode', 'snp', '--vcpus', '2', '--vcpu-type', 'EPYC', "
            f"'--ovmf', {str(SAMPLES / 'OVMF.amdsev.fd')!r}]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('construct', 'typer', 'cryptography', 'click', 'rich')), file=sys.stderr); "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]", result.stderr
