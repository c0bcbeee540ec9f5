"""Fetching a report's certificates and CRL from AMD's KDS (or a mirror) into the cache.

KDS throttles repeated requests (HTTP 429; google/go-sev-guest ``trust.go``: "repeat requests of
the same arguments will be throttled to once per 10 seconds"). Requests are therefore made only
for what the cache lacks, and 429 and 5xx answers are retried with bounded exponential backoff
that honours ``Retry-After`` (seconds or an HTTP date, capped). Each request has a timeout;
answers are bounded in size before they are read.

The VCEK and the chain are required; the CRL is fetched when the cache has none or only a stale
one, and if KDS cannot serve it the certificates are cached all the same, with a warning.

Nothing enters the cache unverified: the chain's ARK must be a trusted root (AMD's pinned ARK
of the product, or an explicit ``trust_roots`` entry), the ASK/ASVK must chain to it, the VCEK
must chain to those and name the report's chip and TCB, and the CRL must be signed by the ARK.
"""
from __future__ import annotations

import datetime
import email.utils
import time
from dataclasses import dataclass, field

from ..errors import InputError, SignatureError
from ..formats.certificates import amd_extensions, parse_certificates, parse_crl, role
from ..formats.report import AttestationReport
from ..limits import MAX_SMALL_FILE
from . import cache as store
from .kds import KDS_URL, kds_urls, report_product

RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class HttpClient:
    """GET with retries. ``sleep`` and ``progress`` are injectable (tests pass their own)."""

    timeout: float = 30.0          # seconds per request
    attempts: int = 5              # requests per URL, at most
    first_delay: float = 2.0       # seconds before the first retry; doubles each time
    max_delay: float = 60.0        # cap on one wait, Retry-After included
    sleep: object = None           # default time.sleep
    progress: object = None        # a callable taking one line, or None
    requests: list = field(default_factory=list)

    def get(self, url: str) -> bytes | None:
        """The body of ``url``; None for 404 (KDS has no such certificate). ``progress`` hears
        of each download and each retry."""
        if self.progress is not None:
            self.progress(f"downloading {url}")
        return self._get(url, self.first_delay)

    def _attempt(self, url: str) -> bytes:
        """One request, bounded as a whole by ``timeout`` (urllib's timeout bounds each socket
        operation only, so a server sending a byte at a time could hold it for ever): it runs
        in a daemon thread that is abandoned when the time is up."""
        import threading

        outcome: list = []

        def work() -> None:
            try:
                outcome.append((True, _download(url, self.timeout)))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append((False, exc))

        worker = threading.Thread(target=work, name="snpmeasure-kds", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not outcome:
            raise TimeoutError(f"no complete answer within {self.timeout:g} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def _get(self, url: str, delay: float) -> bytes | None:
        import urllib.error

        for attempt in range(1, self.attempts + 1):
            self.requests.append(url)
            wait = None
            try:
                return self._attempt(url)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code not in RETRY_STATUSES:
                    raise InputError(url, f"HTTP {exc.code} {exc.reason}") from None
                wait = _retry_after(exc.headers.get("Retry-After"))
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
                reason = _network_reason(getattr(exc, "reason", exc), self.timeout)
            if attempt == self.attempts:
                raise InputError(url, f"{reason} (after {attempt} "
                                      f"{'attempt' if attempt == 1 else 'attempts'})") from None
            wait = min(self.max_delay, delay if wait is None else wait)
            delay = min(self.max_delay, delay * 2)
            if self.progress is not None:
                self.progress(f"{url}: {reason}; retrying in {wait:g} s "
                              f"(attempt {attempt + 1} of {self.attempts})")
            (self.sleep or time.sleep)(wait)
        raise AssertionError("unreachable")


def _download(url: str, timeout: float) -> bytes:
    """One GET of ``url``: the body, at most MAX_SMALL_FILE bytes (urllib's errors raised)."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "snpmeasure"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > MAX_SMALL_FILE:
            raise InputError(url, f"answer of {length} bytes is over the {MAX_SMALL_FILE}-byte "
                                  "limit")
        body = response.read(MAX_SMALL_FILE + 1)
        if len(body) > MAX_SMALL_FILE:
            raise InputError(url, f"answer is over the {MAX_SMALL_FILE}-byte limit")
        return body


def _network_reason(error, timeout: float) -> str:
    """Why a request failed, in words (not the errno text of the socket layer)."""
    import socket
    import ssl

    if isinstance(error, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


CACHED, FETCHED, NOT_FETCHED, NOT_AVAILABLE = "cached", "fetched", "not_fetched", "not_available"


@dataclass
class FetchResult:
    """What ``fetch`` did for each item: ``(item, path, state, detail)``. ``item`` is
    cert_chain, vcek, vlek or crl; ``state`` one of ``cached``, ``fetched`` (``path`` is where
    the cache holds it), ``not_fetched`` (a VLEK: KDS does not serve it) or ``not_available``
    (a CRL KDS could not serve; ``path`` is None); ``detail`` says why, or is None."""

    items: list = field(default_factory=list)


def fetch(report: AttestationReport, cache_root, *, product: str | None = None,
          base: str = KDS_URL, client: HttpClient | None = None, trust_roots=(),
          now: datetime.datetime | None = None) -> FetchResult:
    """Make sure the cache holds the report's VCEK (for VCEK reports), its product's chain and
    CRL, each verified before it is written; fetch only what is missing or stale."""
    from ..attestation.authenticity import Collateral, verify_endorsement_chain

    client = client or HttpClient()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    product = report_product(report, product)
    urls = kds_urls(report, product, base)
    paths = store.cache_paths(cache_root, report, product)
    result = FetchResult()
    roots = tuple((cert, "--trust-root") for cert in trust_roots)

    chain_pem, state = _cached_or_fetched(paths.cert_chain, urls.cert_chain, client)
    chain = parse_certificates(chain_pem, urls.cert_chain)
    anchor = _check_chain(chain, product, urls.endorser, roots, now, urls.cert_chain)
    if state == FETCHED:
        store.store(paths.cert_chain, chain_pem)
    result.items.append(("cert_chain", paths.cert_chain, state, None))

    if urls.vcek is not None:
        der, state = _cached_or_fetched(paths.endorsement, urls.vcek, client)
        certs = parse_certificates(der, urls.vcek)
        if len(certs) != 1 or role(certs[0])[0] != "VCEK":
            raise SignatureError(f"{urls.vcek}: the answer is not one VCEK certificate")
        vcek = certs[0]
        check = verify_endorsement_chain(vcek, product, Collateral(
            certificates=tuple((c, urls.cert_chain) for c in chain), trust_roots=roots, at=now))
        failed = [c for c in check.checks if c.status == "fail"]
        if failed:
            raise SignatureError(f"{urls.vcek}: the VCEK does not chain to a trusted root: "
                                 f"{failed[0].detail}")
        _check_vcek_matches(vcek, report, product, urls.vcek)
        if state == FETCHED:
            store.store(paths.endorsement, der)
        result.items.append(("vcek", paths.endorsement, state, None))
    else:
        result.items.append(("vlek", None, NOT_FETCHED, "KDS serves VLEKs to cloud providers "
                                                        "only; take it from the host's "
                                                        "certificate table (report get "
                                                        "--certs-out, report verify --certs)"))

    try:
        crl_der, state = _cached_or_fetched(paths.crl, urls.crl, client,
                                            fresh=lambda data: _crl_current(data, now))
    except InputError as exc:  # 404 or no network: the certificates are cached all the same
        import warnings
        warnings.warn(f"the CRL was not fetched ({exc.reason}); report verify --require-crl "
                      "will need one")
        result.items.append(("crl", None, NOT_AVAILABLE, exc.reason))
        return result
    crl = parse_crl(crl_der, urls.crl)
    if crl.issuer != anchor.subject or not crl.is_signature_valid(anchor.public_key()):
        raise SignatureError(f"{urls.crl}: the CRL is not issued and signed by the trusted "
                             f"ARK-{product}")
    if state == FETCHED:
        store.store(paths.crl, crl_der)
    result.items.append(("crl", paths.crl, state, None))
    return result


def _cached_or_fetched(path, url, client, fresh=None):
    import os

    from ..files import read_file

    if path and os.path.isfile(path):
        data = read_file(path)
        if fresh is None or fresh(data):
            return data, CACHED
    data = client.get(url)
    if data is None:
        raise InputError(url, "KDS has no such certificate (HTTP 404): check the product, the "
                             "chip ID and the TCB")
    return data, FETCHED



def _crl_current(data: bytes, now) -> bool:
    try:
        crl = parse_crl(data)
    except Exception:  # a damaged cached CRL is fetched again
        return False
    return crl.next_update_utc is not None and now < crl.next_update_utc


def _check_chain(chain, product, kind, roots, now, url):
    """The ARK of a fetched cert_chain, after checking it is trusted and signs the ASK/ASVK."""
    from ..attestation.authenticity import Collateral, anchors_for

    wanted = ("ASK" if kind == "vcek" else "ASVK", product)
    intermediates = [c for c in chain if role(c) == wanted]
    arks = [c for c in chain if role(c) == ("ARK", product)]
    if len(chain) != 2 or len(intermediates) != 1 or len(arks) != 1:
        raise SignatureError(f"{url}: expected the {wanted[0]} and the ARK of {product}")
    trusted = {a.cert.public_bytes(_der())
               for a in anchors_for(product, Collateral(trust_roots=roots))}
    ark = arks[0]
    if ark.public_bytes(_der()) not in trusted:
        raise SignatureError(f"{url}: the ARK is not AMD's pinned ARK-{product} (nor a "
                             "--trust-root)")
    try:
        intermediates[0].verify_directly_issued_by(ark)
    except Exception:  # InvalidSignature, ValueError
        raise SignatureError(f"{url}: the {wanted[0]} is not signed by the ARK") from None
    for cert in (intermediates[0], ark):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SignatureError(f"{url}: a certificate of the chain is not valid now")
    return ark


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


def _check_vcek_matches(vcek, report, product, url) -> None:
    """The fetched VCEK names the report's chip and TCB (the cache path promises it)."""
    from ..abi.products import HWID_SIZES, tcb_components

    ext = amd_extensions(vcek)
    chip = report.fields["chip_id"][:HWID_SIZES[product]]
    tcb = tcb_components(report.fields["reported_tcb"], product)
    if ext.hwid != chip or any(ext.tcb.get(k) != v for k, v in tcb.items()):
        raise SignatureError(f"{url}: the VCEK was issued for another chip or TCB than the "
                             "report's")
