"""A lean HTTP/1.1 keep-alive client for the fleet simulator.

The simulator shares the machine's two cores with the server, so its own cost per request
must be small: httpx's async client spends about as much CPU per request as the server
does. This client writes a pre-encoded request and reads the status line, the headers and a
Content-Length body — all the agent API needs (no chunked bodies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
import json


class HttpError(Exception):
    pass


class Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self._free: asyncio.Queue = asyncio.Queue()
        self._size, self._made = size, 0

    async def _get(self):
        if self._free.empty() and self._made < self._size:
            self._made += 1
            try:
                return await asyncio.open_connection(self.host, self.port, limit=1 << 20)
            except OSError:
                self._made -= 1
                raise
        return await self._free.get()

    async def post(self, path: str, token: str, body: dict, timeout: float = 60):
        """(status, parsed JSON or None)."""
        data = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        try:
            conn = await self._get()
        except OSError as e:
            raise HttpError(str(e)) from None
        reader, writer = conn
        try:
            writer.write(head.encode() + data)
            status, payload = await asyncio.wait_for(self._read(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
            writer.close()
            self._made -= 1
            raise HttpError(repr(e)) from None
        self._free.put_nowait(conn)
        return status, payload

    @staticmethod
    async def _read(reader):
        status_line = await reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        return status, (json.loads(body) if body else None)

    async def close(self) -> None:
        while not self._free.empty():
            _, w = self._free.get_nowait()
            w.close()
