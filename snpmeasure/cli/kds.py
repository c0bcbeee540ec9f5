"""``snpmeasure kds url|fetch``: AMD's KDS addresses of a report's certificates, and the cache."""
from __future__ import annotations

import json

from ..errors import ConfigError
from ..text import printable
from .report import _product
from .console import Progress
from .values import parse_int


def kds_base(value: str) -> str:
    """The --kds-url value, checked: an http(s) address with a host, no query or fragment
    (the KDS paths are appended to it)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment or value.endswith(("?", "#")) \
            or not value.isprintable() or " " in value:
        raise ConfigError(f"--kds-url {printable(value)}: give an http:// or https:// address "
                          "with a host and no query, e.g. https://kdsintf.amd.com")
    return value


def run_url(values: dict) -> None:
    from ..collateral.kds import kds_urls
    from ..formats.report import load_report

    urls = kds_urls(load_report(values["file"]), _product(values["product"]),
                    kds_base(values["kds_url"]))
    if values["json_output"]:
        print(json.dumps(urls.to_json(), indent=2))
        return
    for url in (urls.vcek, urls.cert_chain, urls.crl):
        if url is not None:
            print(url)


def run_fetch(values: dict) -> None:
    from ..collateral.fetch import HttpClient, fetch
    from ..formats.certificates import load_certificates
    from ..formats.report import load_report

    import os

    base = kds_base(values["kds_url"])
    cache = values["cache"]
    if os.path.exists(cache) and not os.path.isdir(cache):
        raise ConfigError(f"--cache {printable(cache)}: not a directory")
    timeout = parse_int("--timeout", values["timeout"])
    retries = parse_int("--retries", values["retries"])
    if not 1 <= timeout <= 600:
        raise ConfigError(f"--timeout {timeout} is outside 1..600 seconds")
    if not 0 <= retries <= 10:
        raise ConfigError(f"--retries {retries} is outside 0..10")
    roots = []
    for path in values["trust_root"] or ():
        roots += load_certificates(path)
    with Progress("kds fetch") as progress:
        result = fetch(load_report(values["file"]), values["cache"],
                       product=_product(values["product"]), base=base,
                       client=HttpClient(timeout=timeout, attempts=retries + 1,
                                         progress=progress.status), trust_roots=roots)
    if values["json_output"]:
        print(json.dumps([{"item": item, "path": path, "state": state, "detail": detail}
                          for item, path, state, detail in result.items], indent=2))
        return
    for item, path, state, detail in result.items:
        if path:
            print(f"{item:<10} {state:<8} {printable(path)}")
        else:
            print(f"{item:<10} {state.replace('_', ' ')}: {printable(detail)}")
