"""Takedown tracking for hotlines: URL intake, host attribution, and the optional recheck.

* :mod:`.urls` -- reported URLs in one canonical form, with a de-duplication key;
* :mod:`.hosts` -- which hosting provider, abuse contact and country a host belongs to;
* :mod:`.recheck` -- is the reported content still served? (HTTP, SSRF-guarded, in memory,
  off by default).

Uses the engine (hashing, matching) and never the server.
"""

from .hosts import HostRow, HostRowError, HostsFileError, HostTable, read_hosts_csv, write_hosts_csv
from .recheck import (
    HashHit,
    HostRateLimiter,
    RecheckPolicy,
    RecheckResult,
    address_refusal,
    recheck,
)
from .urls import Intake, NormalisedUrl, UrlError, dedupe, normalise_host, normalise_url

__all__ = [
    "HashHit",
    "HostRateLimiter",
    "HostRow",
    "HostRowError",
    "HostTable",
    "HostsFileError",
    "Intake",
    "NormalisedUrl",
    "RecheckPolicy",
    "RecheckResult",
    "UrlError",
    "address_refusal",
    "dedupe",
    "normalise_host",
    "normalise_url",
    "read_hosts_csv",
    "recheck",
    "write_hosts_csv",
]
