#!/usr/bin/env python3
"""An echo server that nobody here wrote: Python's websockets (Debian's
python3-websockets, 10.4 when this was written), for peers_test.go.

It listens on a loopback port that the system chooses, prints its URL,
ws://127.0.0.1:PORT/, on a line of its own, and echoes every message as
it came: text as text, binary as binary (but "?extensions", answered with
the extensions agreed, by name). It accepts permessage-deflate, as
websockets does by default. It is the plainest handler the
library's documentation shows, so it closes as that library does: a Close
from the client is answered at once, before any reply the handler has
still to send (RFC 6455 §5.5.1 allows it).

It exits when its standard input closes, or after LIFETIME seconds
(the first argument, 120 by default), so that it never outlives its test.

    python3 testdata/pyecho.py [LIFETIME]
"""

import asyncio
import sys

import websockets

# As large as a message to this project's /echo may be by default.
MAX_MESSAGE = 16 << 20


# EXTENSIONS_QUERY is the one message not echoed: the answer is the
# extensions this server agreed on the connection, by name, so that
# peers_test.go can check Python's side of the negotiation.
EXTENSIONS_QUERY = "?extensions"


async def echo(websocket):
    async for message in websocket:
        if message == EXTENSIONS_QUERY:
            message = ", ".join(e.name for e in websocket.extensions) or "none"
        await websocket.send(message)


async def stdin_closed():
    """Returns once standard input is closed (or at its end)."""
    loop = asyncio.get_running_loop()
    closed = loop.create_future()

    class Watch(asyncio.Protocol):
        def connection_lost(self, exc):
            if not closed.done():
                closed.set_result(None)

    await loop.connect_read_pipe(Watch, sys.stdin)
    await closed


async def main(lifetime):
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=MAX_MESSAGE) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"ws://127.0.0.1:{port}/", flush=True)
        await asyncio.wait([asyncio.ensure_future(stdin_closed())], timeout=lifetime)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 120))
