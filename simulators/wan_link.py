"""A site's WAN link to the region, which a drill can cut: a TCP relay per regional node.

Cut, the connections through it forward nothing in either direction and answer nothing, as a
dead line does: no reset; the site's bridge finds out only when its keepalive goes
unanswered. New connections are refused while it is cut. (A dead line would leave them
unanswered instead; a relay cannot: the kernel completes a TCP handshake on a listening
socket by itself, and a bridge whose TLS handshake then hangs keeps Mosquitto 2.0.11 busy at
about half a core until the link is back, as found here. Network namespaces with a link set
down would give the true dead line.) Restored, the connections held through the cut are
dropped (the line's state is gone) and new ones go through."""

import asyncio
import contextlib

from simulators.broker import free_ports


class WanLink:
    def __init__(self, targets: list[int]) -> None:
        self.targets = targets  # the regional nodes' ports on loopback
        self.ports = free_ports(len(targets))  # what the site dials instead
        self.up = True
        self._servers: list[asyncio.Server] = []
        self._held: set[asyncio.StreamWriter] = set()
        self.cuts = 0

    async def start(self) -> None:
        self._servers = [
            await asyncio.start_server(self._relay(target), "127.0.0.1", port)
            for port, target in zip(self.ports, self.targets, strict=True)
        ]

    def _relay(self, target: int):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._held.add(writer)
            try:
                while not self.up:  # a dead line: the connection hangs
                    await asyncio.sleep(0.1)
                    if writer.is_closing():
                        return
                try:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
                except OSError:
                    return  # the node is down: as if the far end refused
                self._held.add(up_writer)
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                for w in (writer,):
                    self._held.discard(w)
                    with contextlib.suppress(Exception):
                        w.close()

        return handle

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while not self.up:  # held, never delivered: the line is dead
                    await asyncio.sleep(0.1)
                    if writer.is_closing():
                        return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._held.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def cut(self) -> None:
        self.up = False
        self.cuts += 1
        await self._close_servers()

    async def restore(self) -> None:
        """The line back: what was held through the cut is gone."""
        for writer in list(self._held):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._held.clear()
        self.up = True
        if not self._servers:
            await self.start()

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers = []

    async def stop(self) -> None:
        self.up = True
        for writer in list(self._held):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        await self._close_servers()
