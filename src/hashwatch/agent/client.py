"""Talking to the management server over its /api/v1/agent API (httpx).

Plain http:// is refused unless the server is on this machine (loopback) or the
configuration says ``allow_insecure_http``: an agent's secret and its incidents never
cross a network in the clear by accident.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .. import __version__

API = "/api/v1/agent"


class ClientError(Exception):
    """Could not talk to the server (network, TLS, timeout, 5xx): try again later."""


class AuthError(ClientError):
    """The server refused this agent (401 unknown / 403 revoked): retrying will not help."""


class RejectedError(ClientError):
    """The server refused a request as invalid (4xx other than auth)."""

    def __init__(self, status: int, detail):
        self.status = status
        self.detail = detail
        super().__init__(f"server refused the request ({status}): {detail}")


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure_http: bool = False) -> str:
    """The server's base URL, normalised; ValueError says what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL of the server")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{url!r}: refusing plain http:// to another machine (the agent's secret and its "
            "incidents would cross the network unencrypted); use https://, or set "
            "[server] allow_insecure_http = true"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: the server URL takes no query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(slots=True)
class Bundle:
    data: bytes
    version: int
    kind: str


class ServerClient:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ca_file: Path | None = None,
        allow_insecure_http: bool = False,
        timeout: float = 30.0,
    ):
        self.url = check_url(url, allow_insecure_http)
        verify: bool | str = str(ca_file) if ca_file else True
        headers = {"User-Agent": f"hashwatch-agent/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url + API,
            headers=headers,
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            r = self._http.request(method, path, **kw)
        except httpx.TimeoutException as e:
            raise ClientError(f"server did not answer in time ({type(e).__name__})") from None
        except (httpx.HTTPError, OSError) as e:
            raise ClientError(f"cannot reach the server: {e}") from None
        if r.status_code in (401, 403):
            raise AuthError(f"server refused this agent ({r.status_code}): {_detail(r)}")
        if r.status_code >= 500 or r.status_code == 429:
            raise ClientError(f"server error {r.status_code}: {_detail(r)}")
        if r.status_code >= 400:
            raise RejectedError(r.status_code, _detail(r))
        return r

    def enroll(self, token: str, hostname: str, os_name: str) -> dict:
        r = self._request(
            "POST",
            "/enroll",
            json={
                "token": token,
                "hostname": hostname,
                "os": os_name[:100],
                "agent_version": __version__,
            },
        )
        return r.json()

    def heartbeat(self, body: dict) -> dict:
        return self._request("POST", "/heartbeat", json=body).json()

    def post_incidents(self, incidents: list[dict]) -> dict:
        return self._request("POST", "/incidents", json={"incidents": incidents}).json()

    def lists(self) -> list[dict]:
        return self._request("GET", "/lists").json()["lists"]

    def bundle(self, name: str, since: int | None, max_bytes: int = 1 << 30) -> Bundle | None:
        """The signed bundle of list ``name`` (a delta if ``since``); None if up to date."""
        params = {} if since is None else {"since": since}
        try:
            with self._http.stream("GET", f"/lists/{name}/bundle", params=params) as r:
                if r.status_code == 204:
                    return None
                if r.status_code >= 400:
                    r.read()
                    if r.status_code in (401, 403):
                        raise AuthError(f"server refused this agent ({r.status_code})")
                    if r.status_code >= 500:
                        raise ClientError(f"server error {r.status_code}: {_detail(r)}")
                    raise RejectedError(r.status_code, _detail(r))
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ClientError(f"list bundle larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return Bundle(
                    b"".join(chunks),
                    int(r.headers.get("X-Hashwatch-List-Version", "0") or 0),
                    r.headers.get("X-Hashwatch-Bundle-Kind", ""),
                )
        except httpx.TimeoutException as e:
            raise ClientError(f"server did not answer in time ({type(e).__name__})") from None
        except (httpx.HTTPError, OSError) as e:
            raise ClientError(f"cannot reach the server: {e}") from None


def _detail(r: httpx.Response):
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    return body.get("detail", body) if isinstance(body, dict) else body
