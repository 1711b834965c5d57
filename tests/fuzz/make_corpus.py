#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/.

Run from anywhere: python3 tests/fuzz/make_corpus.py. The seeds are small,
valid (or nearly valid) inputs that start each fuzzer deep inside its parser;
the input layouts are described at the top of each fuzz_*.cpp. The two
histograms are the Java reference's output (tests/unit/hdr/encoding_test.cpp).
Re-running rewrites the same files.
"""
import base64
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_HISTOGRAMS = [
    "HISTFAAAAB942pNpmSzMwMDAyAABzFAazL82eQmD/QeoCABVgwSI",
    "HISTFAAAACN42pNpmSzMwMDAwgABzFCaEURcm7yEwf4DVISJiQkAY5YEkQ==",
]


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def upper_frame(body):
    return struct.pack("<H", len(body)) + body


def sessions():
    # Control byte: chunk seed in bits 0-3, small http limits bit 4, FIN bit 5.
    upper = {
        "one": upper_frame(b"hello, world"),
        "two": upper_frame(b"abc") + upper_frame(b"XyZ 123"),
        "empty-frame": upper_frame(b"") + upper_frame(b"q"),
        "truncated": struct.pack("<H", 65535) + b"abc",
    }
    for i, (name, data) in enumerate(upper.items()):
        write("session-upper", name, bytes([i * 3 + (0x20 if name == "truncated" else 0)]) + data)
    write("session-echo", "text", b"\x05any bytes at all\x00\xff")
    http = {
        "get": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "pipelined": b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?c=d HTTP/1.1\nHost: x\n\n",
        "post": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "http10-keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "close": b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "fields": b"\r\nGET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B:  two  \r\n\r\n",
        "version": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "big-body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n",
    }
    for i, (name, data) in enumerate(http.items()):
        control = (i % 16) | (0x10 if name == "big-body" else 0) | (0x20 if i % 3 == 0 else 0)
        write("session-http", name, bytes([control]) + data)


def clients():
    # mode, requests, sizes, chunk seed; then edits or raw bytes.
    for target in ("client-upper", "client-echo", "client-http"):
        write(target, "correct", bytes([0, 2, 0x31, 0]))
        write(target, "correct-chunked-fin", bytes([4, 7, 0x52, 9]))
        write(target, "edited", bytes([1, 1, 0x20, 3]) + bytes([0, 2, 0, ord("!"), 0, 5, 2, 0]))
        write(target, "cut", bytes([1, 3, 0x10, 0]) + bytes([0, 1, 3, 0]))
    write("client-upper", "raw", bytes([2, 1, 0x00, 0]) + upper_frame(b""))
    write("client-echo", "raw", bytes([2, 1, 0x01, 0]) + b"x")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
    raw_http = {
        "raw-ok": ok,
        "raw-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nHello\r\n8;ext=1\r\n, World!\r\n0\r\nTrailer: x\r\n\r\n",
        "raw-close-delimited": b"HTTP/1.0 200 OK\r\n\r\nanything",
        "raw-404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        "raw-connection-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\n"
                                b"Hello, World!",
        "raw-bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 13\n\nHello, World!" + ok,
    }
    for i, (name, data) in enumerate(raw_http.items()):
        mode = 2 | (0x08 if i % 2 else 0) | (0x04 if "close" in name else 0)
        write("client-http", name, bytes([mode, 1 + (1 if name == "raw-bare-lf" else 0), 0, i]) + data)


def hdr():
    for i, text in enumerate(JAVA_HISTOGRAMS):
        compressed = base64.b64decode(text + "=" * (-len(text) % 4))
        cookie, length = struct.unpack(">II", compressed[:8])
        assert cookie == 0x1C849314, hex(cookie)
        plain = zlib.decompress(compressed[8:8 + length])
        write("hdr-decode", "compressed-%d" % i, b"\x00" + compressed)
        write("hdr-decode", "plain-%d" % i, b"\x00" + plain)
        write("hdr-decode", "base64-%d" % i, b"\x01" + text.encode())
    write("hdr-decode", "zigzag", b"\x02" + bytes([0x00, 0x02, 0x7F, 0x80, 0x01]) + b"\xff" * 8 + b"\x01")

    header = (
        "#[Logged with the fuzz corpus]\n"
        "#[Histogram log format version 1.3]\n"
        "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n"
        "#[BaseTime: 1441812279.000 (seconds since epoch)]\n"
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    )
    lines = "".join(
        "%s%.3f,1.000,%.3f,%s\n" % ("Tag=t%d," % i if i else "", 0.127 + i, 0.5 * (i + 1), text)
        for i, text in enumerate(JAVA_HISTOGRAMS))
    write("hlog", "log", b"\x00\x00" + (header + lines).encode())
    write("hlog", "log-range", b"\x01\x31" + (header + lines).encode())
    write("hlog", "log-absolute", b"\x02\xf0" + (header + lines).encode())
    write("hlog", "bare-line", b"\x00\x00" + ("0.000,1.000,0.001,%s\n" % JAVA_HISTOGRAMS[0]).encode())


if __name__ == "__main__":
    sessions()
    clients()
    hdr()
