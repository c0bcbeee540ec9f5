"""``snpmeasure report get``: an attestation report from inside the guest (configfs-tsm)."""
from __future__ import annotations

import base64
import sys
import warnings

from ..errors import ConfigError
from .values import parse_int


def nonce_from(values: dict) -> bytes | None:
    """The raw nonce of ``--nonce-hex`` or ``--nonce`` (for hints), or None."""
    from ..files import read_file

    if values.get("nonce_hex") is not None:
        try:
            return bytes.fromhex(values["nonce_hex"].strip())
        except ValueError:
            return None
    if values.get("nonce") is not None:
        return read_file(values["nonce"], what="nonce")
    return None


def report_data_from(values: dict, required: bool, pad: bool = True) -> bytes | None:
    """The 64-byte REPORT_DATA from ``--report-data`` (zero-padded; as given with
    ``pad=False``), ``--nonce-hex`` or ``--nonce`` (SHA-512 of the nonce); None when none is
    given and not ``required``."""
    from ..files import read_file
    from ..formats.encoding import nonce_report_data, parse_report_data

    given = [flag for flag, dest in (("--report-data", "report_data"),
                                     ("--nonce-hex", "nonce_hex"), ("--nonce", "nonce"))
             if values.get(dest) is not None]
    if len(given) > 1:
        raise ConfigError(f"give one of {', '.join(given)}")
    if not given:
        if required:
            raise ConfigError("give the REPORT_DATA: --report-data, --nonce-hex or --nonce")
        return None
    if values.get("report_data") is not None:
        data = parse_report_data(values["report_data"])
        return data + bytes(64 - len(data)) if pad else data
    if values.get("nonce_hex") is not None:
        text = values["nonce_hex"].strip()
        try:
            nonce = bytes.fromhex(text)
        except ValueError:
            raise ConfigError(f"--nonce-hex {values['nonce_hex']!r} is not hex") from None
        if not nonce:
            raise ConfigError("--nonce-hex is empty")
        return nonce_report_data(nonce)
    nonce = read_file(values["nonce"], what="nonce")
    if not nonce:
        raise ConfigError(f"--nonce {values['nonce']} is empty")
    return nonce_report_data(nonce)


def run_get(values: dict) -> None:
    from ..evidence.configfs import get_report
    from ..files import check_outputs, write_outputs

    fmt = values["output_format"] or ("binary" if values["output"] else "hex")
    if fmt not in ("binary", "hex", "base64"):
        raise ConfigError(f"--output-format {fmt!r} is not binary, hex or base64")
    report_data = report_data_from(values, required=True)
    vmpl = parse_int("--vmpl", values["vmpl"])
    outputs = [path for path in (values["output"], values["certs_out"]) if path is not None]
    if len(set(outputs)) != len(outputs):
        raise ConfigError("-o and --certs-out name the same file")
    check_outputs(outputs, values["force"])
    evidence = get_report(report_data, vmpl=vmpl, root=values["configfs"])
    encoded = {"binary": evidence.raw, "hex": evidence.raw.hex().encode() + b"\n",
               "base64": base64.b64encode(evidence.raw) + b"\n"}[fmt]
    files = []
    if values["output"] is not None:
        files.append((values["output"], encoded))
    if values["certs_out"] is not None:
        if evidence.certificates:
            files.append((values["certs_out"], evidence.certificates))
        else:
            warnings.warn("the host supplied no certificate table (auxblob is empty); "
                          f"{values['certs_out']} was not written: use 'kds fetch' for the VCEK")
    if files:
        write_outputs(files, values["force"])
    if values["output"] is None:
        sys.stdout.buffer.write(encoded) if fmt == "binary" else sys.stdout.write(encoded.decode())
