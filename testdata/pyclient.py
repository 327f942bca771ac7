#!/usr/bin/env python3
"""A client that nobody here wrote: Python's websockets (Debian's
python3-websockets, 10.4 when this was written), against this project's
/echo, for peers_test.go.

    python3 testdata/pyclient.py ws://HOST/echo CASE

Each CASE connects, sends its messages one at a time, checks that each
comes back as it was sent (same type, same bytes), then closes with 1000
and checks that the server answered with 1000 (RFC 6455 §7.1.2). It exits
0 if all of that held; otherwise it says why on stderr and exits 1. Every
wait is bounded (TIMEOUT seconds for the whole case).
"""

import asyncio
import os
import sys

import websockets

TIMEOUT = 30

MiB = 1 << 20
RANDOM = os.urandom(MiB)

# Each case: the messages to send, each with the echo expected. A list of
# fragments is sent as one fragmented message (§5.4), and comes back whole.
CASES = {
    "text": [("κόσμε ✓", "κόσμε ✓")],
    "binary": [(bytes(range(256)), bytes(range(256)))],
    "1MiB": [
        (RANDOM, RANDOM),
        ("a✓" * (MiB // 4), "a✓" * (MiB // 4)),  # 4 bytes of UTF-8 each
    ],
    "fragmented": [
        (["κό", "σμε", " ✓"], "κόσμε ✓"),
        ([b"\x00\x01", b"", b"\xfe\xff"], b"\x00\x01\xfe\xff"),
    ],
    "ping": [],  # a ping, and its pong (§5.5.2, §5.5.3)
    "close": [],  # the closing handshake alone
}


def describe(message):
    kind = "text" if isinstance(message, str) else "binary"
    return f"{kind} of {len(message)} {'characters' if kind == 'text' else 'bytes'}"


async def run(url, case):
    async with websockets.connect(url, max_size=2 * MiB) as ws:
        for message, want in CASES[case]:
            await ws.send(message)
            got = await ws.recv()
            if type(got) is not type(want) or got != want:
                raise AssertionError(f"sent {describe(want)}, got back {describe(got)}: {got[:32]!r}")
        if case == "ping":
            pong = await ws.ping(b"are you there")
            await pong
        extensions = ", ".join(e.name for e in ws.extensions) or "none"
        await ws.close(1000)
        if ws.close_code != 1000:
            raise AssertionError(f"closed with 1000, the server answered {ws.close_code} {ws.close_reason!r}")
        return extensions


def main():
    url, case = sys.argv[1], sys.argv[2]
    if case not in CASES:
        sys.exit(f"pyclient: no case {case!r}; the cases: {', '.join(CASES)}")
    try:
        extensions = asyncio.run(asyncio.wait_for(run(url, case), TIMEOUT))
    except Exception as e:
        sys.exit(f"pyclient: {case}: {type(e).__name__}: {e}")
    # The extensions agreed (websockets offers permessage-deflate by
    # default), for peers_test.go to check.
    print(f"{case}: ok (websockets {websockets.__version__}; extensions: {extensions})")


if __name__ == "__main__":
    main()
