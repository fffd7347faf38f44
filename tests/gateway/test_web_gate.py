"""The web never takes from the radio path what it needs (issue 31, point 2): every connection
to the dashboard or /metrics passes the gate, on real sockets to uvicorn as the gateway embeds
it. Over the caps a connection is reset as it is accepted; half a header, a body that never
comes or a silent connection is closed at the header deadline; a whole request being answered
(a page's live stream) is never cut; and the log says so once a window, not per connection."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.connection_gate import ConnectionGate, GateLimits, header_complete
from gateway.embedded_http import bind, embedded, serve

LIMITS = GateLimits(total=40, per_address=30, header_s=0.5, report_s=60.0, tarpit=10)


async def hello(request: Request) -> Response:
    try:
        await request.body()
    except ClientDisconnect:  # closed by the gate while its body was awaited
        return PlainTextResponse("", status_code=400)
    return PlainTextResponse("hello")


async def stream(request: Request) -> Response:
    async def ticks() -> AsyncIterator[str]:
        for i in range(20):
            yield "data: %d\n\n" % i
            await asyncio.sleep(0.1)

    return StreamingResponse(ticks(), media_type="text/event-stream")


@pytest.fixture
async def served(caplog: pytest.LogCaptureFixture) -> AsyncIterator[tuple[int, ConnectionGate]]:
    app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"]), Route("/stream", stream)])
    sock = bind("127.0.0.1", 0)
    server = embedded(app, logging.getLogger("test.web"), LIMITS)
    task = asyncio.create_task(serve(server, sock, logging.getLogger("test.web"), "the test app"))
    while not server.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1], server.gate  # type: ignore[attr-defined]
    server.should_exit = True
    await task


async def get(port: int, raw: bytes = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the gateway closed (or reset) the connection within `within` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_connections_over_the_caps_are_reset_and_a_request_still_gets_its_answer(
    served: tuple[int, ConnectionGate], caplog: pytest.LogCaptureFixture
) -> None:
    port, gate = served
    idle = []
    for _ in range(60):  # half a login header each, then nothing: the attack's connections
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\n")
        idle.append((reader, writer))
    await asyncio.sleep(0.1)
    assert gate.open == LIMITS.per_address and gate.refused_total == 60 - LIMITS.per_address
    # The turned-away ones wait in the tarpit, unread; beyond its 10, the oldest are reset.
    reset = [await closed(reader, 0.2) for reader, _ in idle[LIMITS.per_address :]]
    assert reset == [True] * 20 + [False] * 10
    # The dawdlers go at the header deadline; then a request is answered (before: no answer).
    await asyncio.sleep(LIMITS.header_s + 0.3)
    assert gate.open == 0 and gate.timed_out_total == LIMITS.per_address
    assert (await get(port)).endswith(b"hello")
    for _, writer in idle:
        writer.close()
    refused = [r for r in caplog.records if r.name == "test.web"]
    assert len(refused) == 1 and "connection(s) refused" in refused[0].getMessage()  # once a window


async def test_a_body_that_never_comes_and_a_silent_connection_are_closed(served: tuple[int, ConnectionGate]) -> None:
    port, gate = served
    silent_reader, _silent = await asyncio.open_connection("127.0.0.1", port)
    body_reader, body_writer = await asyncio.open_connection("127.0.0.1", port)
    body_writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n")  # and never the body
    assert await closed(silent_reader, LIMITS.header_s + 1.0)
    assert await closed(body_reader, LIMITS.header_s + 1.0)
    assert gate.timed_out_total == 2 and gate.open == 0


async def test_a_whole_request_being_answered_is_never_cut(served: tuple[int, ConnectionGate]) -> None:
    port, gate = served
    answer = await get(port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"data: ") == 20  # two seconds of stream, four header deadlines
    assert gate.timed_out_total == 0


def test_a_header_end_is_found_across_reads() -> None:
    assert header_complete(b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r") == (False, b"\n\r\n\r"[-3:], True)
    complete, tail, trailing = header_complete(b"\r\n\r", b"\n")
    assert complete and not trailing
    assert header_complete(b"", b"POST / HTTP/1.1\r\n\r\n{}")[::2] == (True, True)


def test_the_gate_counts_per_address_and_in_all() -> None:
    gate = ConnectionGate(GateLimits(total=3, per_address=2))
    assert [gate.admit("a"), gate.admit("a"), gate.admit("a"), gate.admit("b"), gate.admit("c")] == [
        True,
        True,
        False,
        True,
        False,
    ]
    gate.release("a")
    assert gate.admit("c") and gate.by_address == {"a": 1, "b": 1, "c": 1}
    assert gate.report(0.0) is not None and gate.report(1.0) is None  # once a window
