#!/usr/bin/env python3
"""wsb-client end to end: the real program, fed through a pipe, against a real
server model (tests/integration/client/CMakeLists.txt registers one CTest test
per model and case group).

    client_test.py --client PATH [--server PATH] [--wine SCRIPT] GROUP

GROUP is one of:
  protocols  upper, echo and http lines against --server (started three times,
             once per protocol), //q, a line too long for upper, --rtt, a
             reply that breaks the protocol
  closing    the server stops between two lines: a one-line error, exit 1
  usage      --help, a bad flag, a bad --target, a refused connection
             (no server needed)
  resolve    a host name that resolves to loopback only (the machine's name
             or another of /etc/hosts; "localhost" is read without the
             resolver); exit 77 (skipped) when there is no such name

--wine SCRIPT runs both programs through that script (cmake/wine-emulator.sh).
Every process is bounded by a timeout; all traffic stays on 127.0.0.1.
"""
import argparse
import contextlib
import re
import socket
import subprocess
import sys
import tempfile

TIMEOUT = 60  # seconds for any one process step; Wine starts slowly
FAILURES = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        FAILURES.append(what)


def command(args, path, *rest):
    return ([args.wine] if args.wine else []) + [path, *rest]


def text(raw):
    # Windows programs write CRLF through their text-mode stdout.
    return raw.decode("utf-8", "replace").replace("\r\n", "\n")


class Server:
    """A server model on an ephemeral loopback port, stopped with //q."""

    def __init__(self, args, protocol):
        self.proc = subprocess.Popen(
            command(args, args.server, "--bind", "127.0.0.1", "--port", "0",
                    "--protocol", protocol, "--quiet", "--duration", "300"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = text(self.proc.stdout.readline())
        match = re.match(r"listening 127\.0\.0\.1:(\d+) model=\S+ protocol=(\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError("no ready line from the server: %r" % line)
        self.port = int(match.group(1))
        self.target = "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"//q\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=TIMEOUT)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def serving(args, protocol):
    """A Server of PROTOCOL for the with block; afterwards (whatever the
    block did) it is stopped with //q, which it must answer by exiting 0."""
    server = Server(args, protocol)
    try:
        yield server
    finally:
        check(server.stop() == 0, "%s: the server exits 0 after //q" % protocol)


def client(args, stdin, *flags):
    # Output goes to files, not pipes: the first Wine program of a session
    # starts Wine's own service processes, which inherit its stdout and stderr
    # and live until the session ends (30 s after its last program,
    # cmake/wine-emulator.sh), so reading pipes to their end would wait for
    # them. The program's own exit is what counts.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(command(args, args.client, *flags), input=stdin,
                              stdout=out, stderr=err, timeout=TIMEOUT)
        out.seek(0)
        err.seek(0)
        return done.returncode, text(out.read()), text(err.read())


def upper_lines(args):
    with serving(args, "upper") as server:
        lines = b"hello, world\n\nMixed Case 123 _-+\r\n   //q   \nnever sent\n"
        rc, out, err = client(args, lines, "--target", server.target)
        check(rc == 0 and err == "", "upper: exit 0, nothing on stderr (rc %d, %r)" % (rc, err))
        check(out == "HELLO, WORLD\n\nMIXED CASE 123 _-+\n",
              "upper: each line upper-cased, an empty line answered, stop at //q (%r)" % out)

        long_line = b"x" * 65536 + b"\n" + b"y" * 65535 + b"\nafter\n"
        rc, out, err = client(args, long_line, "--target", server.target)
        check(rc == 1, "upper: a line over 65535 bytes makes the exit code 1 (%d)" % rc)
        check(err.count("\n") == 1 and "line 1 not sent" in err and "65535" in err,
              "upper: one stderr line names the line and the limit (%r)" % err)
        check(out == "Y" * 65535 + "\nAFTER\n",
              "upper: the lines after it are still sent, a 65535-byte one whole")

        rc, out, err = client(args, b"ping\n", "--target", server.target, "--rtt")
        check(rc == 0 and re.fullmatch(r"PING\t\(rtt \d+ us\)\n", out) is not None,
              "upper --rtt: the reply and its round-trip time (%r)" % out)


def echo_lines(args):
    with serving(args, "echo") as server:
        rc, out, err = client(args, b"Echo Me\n\n//q\n", "--target", server.target,
                              "--protocol", "echo")
        check(rc == 0 and out == "Echo Me\n\n",
              "echo: each line back unchanged (rc %d, %r, %r)" % (rc, out, err))
        # An upper client talking to an echo server gets its frame back
        # unchanged, not upper-cased: a reply that breaks the protocol.
        rc, out, err = client(args, b"hello\n", "--target", server.target)
        check(rc == 1 and out == "" and err.count("\n") == 1 and
              "byte 2 of the reply is not what the upper protocol answers" in err,
              "echo: a wrong reply to an upper line is a one-line error, exit 1 (%d, %r)" % (rc, err))


def http_lines(args):
    with serving(args, "http") as server:
        rc, out, err = client(args, b"/\n\n/index.html\n", "--target", server.target,
                              "--protocol", "http")
        check(rc == 0 and out.count("HTTP/1.1 200 OK\n") == 3 and
              out.count("Content-Length: 13\n\nHello, World!\n") == 3,
              "http: three responses, empty line as / (rc %d, %r, %r)" % (rc, out, err))
        rc, out, err = client(args, b"/a b\n/\n", "--target", server.target, "--protocol", "http")
        check(rc == 1 and "line 1 not sent" in err and out.count("HTTP/1.1 200 OK") == 1,
              "http: a path with a space is refused, the next line served (%r)" % err)


def closing(args):
    server = Server(args, "upper")
    err_file = tempfile.TemporaryFile()  # a file, not a pipe: see client()
    proc = subprocess.Popen(command(args, args.client, "--target", server.target),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file)
    try:
        proc.stdin.write(b"first\n")
        proc.stdin.flush()
        check(text(proc.stdout.readline()) == "FIRST\n", "closing: the first line is answered")
        check(server.stop() == 0, "closing: the server stops with the client connected")
        proc.stdin.write(b"second\n")
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
        err_file.seek(0)
        err = text(err_file.read())
        check(proc.returncode == 1, "closing: the client exits 1 (%d)" % proc.returncode)
        check(err.count("\n") == 1 and err.startswith("wsb-client: ") and "line 2" in err,
              "closing: one stderr line about line 2 (%r)" % err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err_file.close()
        server.stop()


def free_port():
    # A port that was just free: bound, then closed without listening.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def usage(args):
    rc, out, err = client(args, b"", "--help")
    check(rc == 0 and "--target" in out and "//q" in out and "Exit codes" in out,
          "usage: --help prints the options and exit codes, exit 0")
    rc, out, err = client(args, b"", "--no-such-flag")
    check(rc == 2 and "--no-such-flag" in err and "--target" in err and out == "",
          "usage: a bad flag prints the error and usage on stderr, exit 2 (%d)" % rc)
    rc, out, err = client(args, b"", "--protocol", "ftp")
    check(rc == 2 and "ftp" in err, "usage: an unknown protocol, exit 2 (%d)" % rc)
    for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "::1:80", "127.0.0.1:x"):
        rc, out, err = client(args, b"x\n", "--target", bad)
        check(rc == 2 and err.count("\n") == 1 and "--target" in err,
              "usage: --target %s is a one-line error, exit 2 (%d, %r)" % (bad, rc, err))
    rc, out, err = client(args, b"x\n", "--target", "127.0.0.1:%d" % free_port())
    check(rc == 1 and err.count("\n") == 1 and "cannot connect" in err and out == "",
          "usage: a refused connection is a one-line error, exit 1 (%d, %r)" % (rc, err))


def loopback_name():
    """A host name, other than "localhost" (which wsb-client reads without
    the resolver), that the system resolves to loopback addresses only: the
    machine's own name or another name of /etc/hosts. None when there is none."""
    candidates = [socket.gethostname()]
    try:
        with open("/etc/hosts") as hosts:
            for line in hosts:
                candidates += line.split("#")[0].split()[1:]
    except OSError:
        pass
    for name in candidates:
        if name == "localhost":
            continue
        try:
            found = {a[4][0] for a in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
        except (socket.gaierror, UnicodeError):
            continue
        if found and all(a.startswith("127.") or a == "::1" for a in found):
            return name
    return None


def resolve(args):
    name = loopback_name()
    if name is None:
        print("skipped: no host name here resolves to loopback addresses only")
        sys.exit(77)
    server = Server(args, "upper")
    try:
        rc, out, err = client(args, b"resolved\n", "--target", "%s:%d" % (name, server.port))
        check(rc == 0 and out == "RESOLVED\n",
              "resolve: the host name %s is resolved (rc %d, %r, %r)" % (name, rc, out, err))
        rc, out, err = client(args, b"x\n", "--target", "no-such-host.invalid:%d" % server.port)
        check(rc == 2 and err.count("\n") == 1 and "cannot resolve host" in err,
              "resolve: a name that does not resolve is a one-line error, exit 2 (%r)" % err)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--server")
    parser.add_argument("--wine")
    parser.add_argument("group", choices=["protocols", "closing", "usage", "resolve"])
    args = parser.parse_args()
    if args.group in ("protocols", "closing", "resolve") and not args.server:
        parser.error("this group needs --server")
    if args.group == "protocols":
        upper_lines(args)
        echo_lines(args)
        http_lines(args)
    else:
        globals()[args.group](args)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
