#!/usr/bin/env python3
"""--log-connections end to end: a real server model, two real connections.

    log_connections_test.py --server PATH [--wine SCRIPT]

Starts the model with --protocol http --log-connections on an ephemeral
loopback port, makes one connection that sends a request and closes cleanly
and one that sends a malformed request (the server answers 400 and closes),
stops the server with //q and checks its stderr: an accept line and a close
line per connection, with the client's address and port, the close reason
(peer_closed, malformed) and the bytes the server received and sent, which
must equal what the client sent and received.

--wine SCRIPT runs the server through that script (cmake/wine-emulator.sh).
Every step is bounded by a timeout; all traffic stays on 127.0.0.1.
"""
import argparse
import re
import socket
import subprocess
import sys
import tempfile

TIMEOUT = 60  # seconds for any one step; Wine starts slowly
FAILURES = []

GOOD = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
BAD = b"NOT HTTP AT ALL\r\n\r\n"


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        FAILURES.append(what)


def exchange(port, request, close_first):
    """Sends `request`, reads until the server's FIN; with close_first the
    client's FIN goes out as soon as the request is sent. Returns the client's
    "addr:port" and the bytes received."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        address = "%s:%d" % s.getsockname()[:2]
        s.sendall(request)
        if close_first:
            s.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        return address, received


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--wine")
    args = p.parse_args()
    cmd = ([args.wine] if args.wine else []) + [
        args.server, "--bind", "127.0.0.1", "--port", "0", "--protocol", "http", "--quiet",
        "--log-connections", "--duration", "300"]
    # stderr goes to a file, not a pipe: Wine's service processes inherit it
    # and outlive the server (tests/integration/client/client_test.py).
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        try:
            ready = proc.stdout.readline().decode("utf-8", "replace")
            match = re.match(r"listening 127\.0\.0\.1:(\d+) ", ready)
            if not match:
                print("no ready line: %r" % ready)
                return 1
            port = int(match.group(1))
            good_peer, good_reply = exchange(port, GOOD, close_first=True)
            bad_peer, bad_reply = exchange(port, BAD, close_first=False)
            proc.stdin.write(b"//q\n")
            proc.stdin.flush()
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").replace("\r\n", "\n").splitlines()

    check(proc.returncode == 0, "server exit status 0 (got %s)" % proc.returncode)
    check(good_reply.startswith(b"HTTP/1.1 200"), "the clean request got a 200")
    check(bad_reply.startswith(b"HTTP/1.1 400"), "the malformed request got a 400")
    expected = [
        "connection accepted " + good_peer,
        "connection closed %s reason=peer_closed received=%d sent=%d"
        % (good_peer, len(GOOD), len(good_reply)),
        "connection accepted " + bad_peer,
        "connection closed %s reason=malformed received=%d sent=%d"
        % (bad_peer, len(BAD), len(bad_reply)),
    ]
    logged = [ln for ln in lines if ln.startswith("connection ")]
    for line in expected:
        check(line in logged, "stderr has: " + line)
    check(len(logged) == 4, "exactly four connection lines (got %d)" % len(logged))
    if FAILURES:
        print("stderr was:\n" + "\n".join(lines))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
