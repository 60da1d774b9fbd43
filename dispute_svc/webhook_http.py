"""One webhook POST, with a deadline on the whole request and no way to reach the inside.

Why not urllib: its timeout is per socket operation (a receiver that trickles a byte every few
seconds holds a POST forever) and a cancelled call keeps its thread. This is asyncio: the whole
exchange has one deadline, and cancelling it closes the socket.

Where it may connect: the host is resolved here, every address it resolves to must be public
(not loopback, private, link-local, multicast or reserved, e.g. a cloud metadata address),
and the connection goes to the address that was checked, so a DNS answer that changes between
check and connect (rebinding) cannot redirect it. `allow_local` lifts the address rule for local
development and tests (DP_WEBHOOK_ALLOW_LOCAL). Errors are reported in coarse classes, so a
subscriber does not learn more about the network than whether its receiver answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import urllib.parse

# The whole request: connect, TLS, send, and the status line of the answer.
POST_TIMEOUT_S = 10.0
_CONTEXT = ssl.create_default_context()


class Refused(Exception):
    """The URL may not be delivered to (it resolves to an address that is not public)."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int, allow_local: bool) -> str:
    """The address to connect to, checked; Refused if any address of the host is not public."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise Refused("the host does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused("the host does not resolve")
    if not allow_local and not all(_public(a) for a in addresses):
        raise Refused("the host resolves to a private, loopback or reserved address")
    return addresses[0]


async def post(url: str, body: bytes, headers: dict[str, str], allow_local: bool) -> str:
    """POST `body`; "" on a 2xx, else a short, coarse reason."""
    try:
        return await asyncio.wait_for(_post(url, body, headers, allow_local), POST_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {POST_TIMEOUT_S:g} s"
    except Refused as exc:
        return f"refused: {exc}"
    except ssl.SSLError:
        return "TLS handshake failed"
    except (OSError, ValueError, asyncio.IncompleteReadError):
        return "could not connect, or the connection broke"


async def _post(url: str, body: bytes, headers: dict[str, str], allow_local: bool) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    address = await resolve(host, port, allow_local)
    reader, writer = await asyncio.open_connection(
        address, port, ssl=_CONTEXT if secure else None, server_hostname=host if secure else None
    )
    try:
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc.rsplit('@', 1)[-1]}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        await writer.drain()
        status = await reader.readline()
        fields = status.split(b" ", 2)
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/1.") or not fields[1].isdigit():
            return "the answer was not HTTP"
        code = int(fields[1])
        return "" if 200 <= code < 300 else f"HTTP {code}"
    finally:
        writer.close()
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
