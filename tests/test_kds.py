"""kds url and kds fetch, against a KDS that the test serves itself on 127.0.0.1.

The server serves the real Milan VCEK and chain at AMD's paths (tests/data/reports), answers
429 with Retry-After to the first request of each path, and 404 for unknown chips; a generated
hierarchy (tests/pki.py) exercises CRLs and refused chains. Nothing else is contacted.
"""
from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse

import pytest
from conftest import DATA

import pki
from snpmeasure.cli.main import main
from snpmeasure.collateral.kds import kds_urls, tcb_name
from snpmeasure.formats.report import load_report, parse_report

REPORTS = DATA / "reports"
MILAN_REPORT = REPORTS / "report_milan.hex"
MILAN_CHIP = ("d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039"
              "029f0efacfd08e244324884738c72b082e2f87a44d541eb6")


class Kds:
    """A KDS on 127.0.0.1: ``routes`` maps path (with query) to (status, body, headers)."""

    def __init__(self):
        self.routes: dict = {}
        self.requests: list = []
        self.throttle_first = True
        self.seen: set = set()
        kds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                kds.requests.append(self.path)
                path = urllib.parse.urlsplit(self.path).path
                if kds.throttle_first and path not in kds.seen:
                    kds.seen.add(path)
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.end_headers()
                    return
                status, body = kds.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kds(monkeypatch):
    server = Kds()
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)  # record the backoff instead of sleeping
    server.waits = waits
    yield server
    server.close()


def serve_milan(kds):
    query = "blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"
    kds.routes[f"/vcek/v1/Milan/{MILAN_CHIP}?{query}"] = (
        200, (REPORTS / "vcek_milan.der").read_bytes())
    kds.routes["/vcek/v1/Milan/cert_chain"] = (200, (REPORTS / "ark_ask_milan.pem").read_bytes())


def test_kds_urls_of_the_real_reports(capsys):
    assert main(["kds", "url", str(MILAN_REPORT), "--product", "Milan"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"https://kdsintf.amd.com/vcek/v1/Milan/{MILAN_CHIP}"
        "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115",
        "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain",
        "https://kdsintf.amd.com/vcek/v1/Milan/crl"]
    # the AWS report is signed by a VLEK, which only its cloud provider can fetch
    assert main(["kds", "url", str(REPORTS / "aws_vlek_report_milan.bin"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"product": "Milan", "endorser": "vlek", "vcek": None,
                   "cert_chain": "https://kdsintf.amd.com/vlek/v1/Milan/cert_chain",
                   "crl": "https://kdsintf.amd.com/vlek/v1/Milan/crl"}


def test_turin_urls_use_the_short_hwid_and_fmc():
    h = pki.hierarchy("Turin", seed=40, tcb={"bl": 1, "tee": 2, "snp": 3, "ucode": 214,
                                             "fmc": 5})
    report = parse_report(pki.report_for(h))
    urls = kds_urls(report)
    assert urls.vcek == (f"https://kdsintf.amd.com/vcek/v1/Turin/{h.chip_id[:8].hex()}"
                         "?fmcSPL=05&blSPL=01&teeSPL=02&snpSPL=03&ucodeSPL=214")
    assert tcb_name(report, "Turin") == "bl01_tee02_snp03_ucode214_fmc05"
    genoa = parse_report(pki.report_for(pki.hierarchy("Genoa", seed=41)))
    assert f"/vcek/v1/Genoa/{genoa.fields['chip_id'].hex()}?blSPL=03&" in kds_urls(genoa).vcek


def test_version_2_reports_need_the_product(capsys):
    assert main(["kds", "url", str(MILAN_REPORT)]) == 2
    assert "--product" in capsys.readouterr().err


def test_fetch_retries_429_then_caches_and_reuses_offline(kds, tmp_path, capsys):
    serve_milan(kds)
    cache = tmp_path / "cache"
    args = ["kds", "fetch", str(MILAN_REPORT), "--product", "Milan", "--cache", str(cache),
            "--kds-url", kds.url]
    assert main(args) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "vcek" in out and "fetched" in out
    vcek = cache / "vcek" / MILAN_CHIP / "bl03_tee00_snp08_ucode115_vcek.der"
    assert vcek.read_bytes() == (REPORTS / "vcek_milan.der").read_bytes()
    assert (cache / "vcek" / "v1" / "Milan" / "cert_chain").read_bytes() == \
        (REPORTS / "ark_ask_milan.pem").read_bytes()
    assert 1 in kds.waits  # Retry-After: 1 was honoured
    assert any("/crl" in r for r in kds.requests)  # the CRL was asked for (and is 404 here)
    # the next call needs no network: every certificate is reused from the cache
    kds.close()
    before = len(kds.requests)
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.count("cached") == 2 and "CRL was not fetched" in err
    assert len(kds.requests) == before
    # and report verify finds everything offline
    assert main(["report", "verify", str(MILAN_REPORT), "--cache", str(cache), "--product",
                 "Milan"]) == 0
    assert "result: verified" in capsys.readouterr().out


def test_verify_with_a_cache_holding_another_chips_vcek(kds, tmp_path, capsys):
    serve_milan(kds)
    cache = tmp_path / "cache"
    assert main(["kds", "fetch", str(MILAN_REPORT), "--product", "Milan", "--cache",
                 str(cache), "--kds-url", kds.url]) == 0
    capsys.readouterr()
    # the Trustee report is from another Milan chip: put the first chip's VCEK where its would be
    other = load_report(REPORTS / "trustee_report_milan.bin")
    from snpmeasure.collateral.cache import cache_paths
    path = cache_paths(cache, other, "Milan").endorsement
    import os
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write((REPORTS / "vcek_milan.der").read_bytes())
    assert main(["report", "verify", str(REPORTS / "trustee_report_milan.bin"), "--cache",
                 str(cache), "--product", "Milan"]) == 8
    capsys.readouterr()
    # and an empty cache says what is missing
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", "verify", str(MILAN_REPORT), "--cache", str(empty), "--product",
                 "Milan"]) == 8
    assert "--cache" in capsys.readouterr().err


def test_unknown_chips_and_unreachable_servers(kds, tmp_path, capsys):
    serve_milan(kds)
    kds.throttle_first = False
    other = REPORTS / "trustee_report_milan.bin"   # KDS here knows only the first chip
    assert main(["kds", "fetch", str(other), "--product", "Milan", "--cache",
                 str(tmp_path / "c"), "--kds-url", kds.url]) == 3
    assert "404" in capsys.readouterr().err
    kds.close()
    assert main(["kds", "fetch", str(MILAN_REPORT), "--product", "Milan", "--cache",
                 str(tmp_path / "d"), "--kds-url", kds.url, "--retries", "1"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "connection refused (after 2 attempts)" in err
    assert not (tmp_path / "d" / "vcek").exists()


@pytest.mark.parametrize("url", ["notaurl", "ftp://kds.example", "https://kds.example/?a=b",
                                 "https://kds.example/#x", "http://:80", "https://h:99999",
                                 "https://kds example"])
def test_a_malformed_kds_url_is_a_flag_error(url, tmp_path, capsys):
    for command in (["kds", "url", str(MILAN_REPORT)],
                    ["kds", "fetch", str(MILAN_REPORT), "--cache", str(tmp_path / "c")]):
        assert main(command + ["--product", "Milan", "--kds-url", url]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("snpmeasure: error: --kds-url ")
    assert not (tmp_path / "c").exists()


def test_a_cache_that_is_a_file_is_refused_before_any_download(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["kds", "fetch", str(MILAN_REPORT), "--product", "Milan", "--cache",
                 str(tmp_path / "file"), "--kds-url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--cache" in err and "not a directory" in err


def test_fetched_chains_are_verified_before_they_are_cached(kds, tmp_path, capsys):
    kds.throttle_first = False
    h = pki.hierarchy("Genoa", seed=42)
    report = tmp_path / "r.bin"
    report.write_bytes(pki.report_for(h))
    parsed = parse_report(report.read_bytes())
    chip = parsed.fields["chip_id"].hex()
    kds.routes[f"/vcek/v1/Genoa/{chip}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"] = \
        (200, pki.der(h.vcek))
    kds.routes["/vcek/v1/Genoa/cert_chain"] = (200, pki.pem(h.ask, h.ark))
    kds.routes["/vcek/v1/Genoa/crl"] = (200, pki.crl(h).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["Encoding"]).Encoding.DER))
    cache = tmp_path / "cache"
    base = ["kds", "fetch", str(report), "--cache", str(cache), "--kds-url", kds.url]
    # a chain whose ARK is not AMD's is refused, and nothing is cached
    assert main(base) == 8
    assert "not AMD's pinned ARK-Genoa" in capsys.readouterr().err
    assert not cache.exists() or not any(cache.rglob("*_vcek.der"))
    # named as a trust root, it is fetched with its CRL, verified and cached
    (tmp_path / "root.pem").write_bytes(pki.pem(h.ark))
    assert main(base + ["--trust-root", str(tmp_path / "root.pem"), "--json"]) == 0
    items = {i["item"]: i["state"] for i in json.loads(capsys.readouterr().out)}
    assert items == {"cert_chain": "fetched", "vcek": "fetched", "crl": "fetched"}
    assert main(["report", "verify", str(report), "--cache", str(cache), "--trust-root",
                 str(tmp_path / "root.pem"), "--require-crl", "--at", pki.NOW.isoformat()]) == 0
    assert "PASS  revocation" in capsys.readouterr().out
    # a VCEK for another chip served under this chip's path is refused
    other = pki.hierarchy("Genoa", seed=42, chip_id=bytes(range(3, 67)))
    kds.routes[f"/vcek/v1/Genoa/{chip}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"] = \
        (200, pki.der(other.vcek))
    assert main(base + ["--trust-root", str(tmp_path / "root.pem"), "--cache",
                        str(tmp_path / "cache2")]) == 8
    assert "another chip" in capsys.readouterr().err
    # a forged CRL is refused
    kds.routes["/vcek/v1/Genoa/crl"] = (200, pki.crl(h, signer=pki.rsa_key(77)).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["Encoding"]).Encoding.DER))
    kds.routes[f"/vcek/v1/Genoa/{chip}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"] = \
        (200, pki.der(h.vcek))
    assert main(base + ["--trust-root", str(tmp_path / "root.pem"), "--cache",
                        str(tmp_path / "cache3")]) == 8
    capsys.readouterr()


def test_retry_after_dates_and_caps():
    from snpmeasure.collateral.fetch import _retry_after

    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_a_stale_cached_crl_counts_as_none(kds, tmp_path, capsys):
    kds.throttle_first = False
    h = pki.hierarchy("Genoa", seed=43)
    report = tmp_path / "r.bin"
    report.write_bytes(pki.report_for(h))
    chip = parse_report(report.read_bytes()).fields["chip_id"].hex()
    der = __import__("cryptography.hazmat.primitives.serialization",
                     fromlist=["Encoding"]).Encoding.DER
    kds.routes[f"/vcek/v1/Genoa/{chip}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"] = \
        (200, pki.der(h.vcek))
    kds.routes["/vcek/v1/Genoa/cert_chain"] = (200, pki.pem(h.ask, h.ark))
    kds.routes["/vcek/v1/Genoa/crl"] = (200, pki.crl(h, days=30).public_bytes(der))
    (tmp_path / "root.pem").write_bytes(pki.pem(h.ark))
    cache = tmp_path / "cache"
    assert main(["kds", "fetch", str(report), "--cache", str(cache), "--kds-url", kds.url,
                 "--trust-root", str(tmp_path / "root.pem")]) == 0
    capsys.readouterr()
    verify = ["report", "verify", str(report), "--cache", str(cache), "--trust-root",
              str(tmp_path / "root.pem"), "--at", pki.NOW.isoformat()]
    assert main(verify) == 0
    out = capsys.readouterr().out
    assert "NOTE  revocation" in out and "kds fetch refreshes it" in out
    assert main(verify + ["--require-crl"]) == 8
    capsys.readouterr()
    # an explicit stale CRL is a failure
    crl = tmp_path / "stale.crl"
    crl.write_bytes(pki.crl(h, days=30).public_bytes(der))
    assert main(verify + ["--crl", str(crl)]) == 8
    capsys.readouterr()


def test_retries_are_reported_to_a_progress_callback(kds):
    from snpmeasure.collateral.fetch import HttpClient

    serve_milan(kds)
    lines = []
    client = HttpClient(progress=lines.append, sleep=lambda seconds: None)
    body = client.get(kds.url + "/vcek/v1/Milan/cert_chain")
    assert body == (REPORTS / "ark_ask_milan.pem").read_bytes()
    assert len(lines) == 2 and lines[0].startswith("downloading http://127.0.0.1")
    assert "HTTP 429" in lines[1] and "retrying in 1 s" in lines[1]
    kds.throttle_first = False
    assert client.get(kds.url + "/vcek/v1/Venice/cert_chain") is None  # 404


def test_a_server_that_drips_its_answer_is_bounded_by_the_timeout(tmp_path, capsys):
    """--timeout bounds a whole request: a server sending its body a byte at a time, each
    within the socket timeout, is given up on (it held a fetch for ever)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            try:
                listener.settimeout(0.2)
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not stop.is_set():
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        break
                    time.sleep(0.05)

    server = threading.Thread(target=drip, daemon=True)
    server.start()
    try:
        code = main(["kds", "fetch", str(MILAN_REPORT), "--product", "Milan", "--cache",
                     str(tmp_path / "c"), "--kds-url",
                     f"http://127.0.0.1:{listener.getsockname()[1]}", "--timeout", "1",
                     "--retries", "0"])
    finally:
        stop.set()
        server.join(5)
        listener.close()
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert "no answer within 1 s (after 1 attempt)" in err
    assert not (tmp_path / "c" / "vcek").exists()
