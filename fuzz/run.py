"""Long fuzzing runs with atheris: ``python fuzz/run.py TARGET [libFuzzer options] CORPUS_DIR``.

Targets are in ``fuzz/targets.py``; any exception other than snpmeasure's own errors is a crash.
Seed corpora are built from the project's samples by ``python fuzz/seed.py``.
"""
import os
import sys
import warnings

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports():
    import snpmeasure.abi.codec  # noqa: F401
    import snpmeasure.analysis.explain  # noqa: F401
    import snpmeasure.formats.firmware  # noqa: F401
    import snpmeasure.attestation.idblock  # noqa: F401
    import snpmeasure.formats.igvm  # noqa: F401
    import snpmeasure.launch.igvm  # noqa: F401
    import snpmeasure.launch.igvm_qemu  # noqa: F401
    import snpmeasure.analysis.inspect  # noqa: F401
    import snpmeasure.formats.keys  # noqa: F401
    import snpmeasure.launch.ovmf  # noqa: F401
    import snpmeasure.engine.measure  # noqa: F401
    import snpmeasure.cli.values  # noqa: F401
    import snpmeasure.launch.plan  # noqa: F401
    import snpmeasure.launch.sections  # noqa: F401
    import snpmeasure.formats.report  # noqa: F401
    import snpmeasure.attestation.verify  # noqa: F401
    import snpmeasure.formats.encoding  # noqa: F401
    import snpmeasure.formats.dsse  # noqa: F401
    import snpmeasure.formats.manifest  # noqa: F401
    import snpmeasure.publish.corim  # noqa: F401
    import snpmeasure.evidence.configfs  # noqa: F401
    from targets import TARGETS


def main() -> None:
    name = sys.argv.pop(1)
    warnings.simplefilter("ignore")  # warnings are messages to users, not findings
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
