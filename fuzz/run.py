"""Long fuzzing runs with atheris: ``python fuzz/run.py TARGET [libFuzzer options] CORPUS_DIR``.

Targets are in ``fuzz/targets.py``; any exception other than snpmeasure's own errors is a crash.
Seed corpora are built from the project's samples by ``python fuzz/seed.py``.
"""
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports():
    import snpmeasure.abi.codec  # noqa: F401
    import snpmeasure.explain  # noqa: F401
    import snpmeasure.firmware  # noqa: F401
    import snpmeasure.idblock  # noqa: F401
    import snpmeasure.igvm  # noqa: F401
    import snpmeasure.inspect_fw  # noqa: F401
    import snpmeasure.keys  # noqa: F401
    import snpmeasure.launch  # noqa: F401
    import snpmeasure.lists  # noqa: F401
    import snpmeasure.plan  # noqa: F401
    import snpmeasure.report  # noqa: F401
    import snpmeasure.report_input  # noqa: F401
    from targets import TARGETS


def main() -> None:
    name = sys.argv.pop(1)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
