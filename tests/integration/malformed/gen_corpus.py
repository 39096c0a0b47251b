#!/usr/bin/env python3
"""Generates the malformed-input corpus of the sync server (issue 4).

Each case is one file cases/NNNN-name.http:
    line 1:  "# expect STATUS CODE\n"   (CODE: stable name from errors.def)
    rest:    the raw bytes a client sends over a FRESH TLS connection, after
             which it half-closes its side (TCP shutdown(SHUT_WR), no
             close_notify) and reads the answer until the server closes.
The test (test_net_malformed.c) checks the status and the error body's code,
and that a valid client keeps being served between cases.

The server runs with its default limits (16 KiB of headers, 64 header
fields, 4 KiB of URL, 4 MiB of body). Run from this directory:
    python3 gen_corpus.py          (rewrites cases/, deterministic)
"""
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")
PB = "application/vnd.mentorlog.v1+protobuf"
cases = []


def add(name, status, code, data):
    if isinstance(data, str):
        data = data.encode("latin-1")
    cases.append((name, status, code, data))


def req(method, target, headers=(), body=b""):
    h = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, target)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    if body or method == "POST":
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode("latin-1") + b"\r\n" + body


rng = random.Random(4)  # deterministic

# 1. Truncations of valid requests at every offset: the peer stops sending
#    mid-request and half-closes -> 400 BAD_HTTP ("request truncated").
enroll_body = bytes(rng.randrange(256) for _ in range(48))
valid = [
    ("enroll", req("POST", "/v1/enroll", [("Content-Type", PB)], enroll_body)),
    ("sth", req("GET", "/v1/log/sth", [("Accept", "application/json")])),
]
for label, full in valid:
    for cut in range(1, len(full)):
        add("trunc-%s-%04d" % (label, cut), 400, "BAD_HTTP", full[:cut])

# 2. Broken HTTP -> 400 BAD_HTTP.
broken = {
    "garbage": b"\x16\x03\x01 not http at all\r\n\r\n",
    "no-version": b"GET /healthz\r\nHost: x\r\n\r\n",
    "bad-version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "lowercase-method": b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "space-in-target": b"GET /health z HTTP/1.1\r\nHost: x\r\n\r\n",
    "ctl-in-target": b"GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-in-header": b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    "ctl-in-header": b"GET /healthz HTTP/1.1\r\nX-A: a\x07b\r\n\r\n",
    "space-before-colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "no-colon": b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
    "empty-name": b"GET /healthz HTTP/1.1\r\n: x\r\n\r\n",
    "obs-fold": b"GET /healthz HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
    "bare-cr": b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n",
    "cl-not-number": b"POST /v1/enroll HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    "cl-negative": b"POST /v1/enroll HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "cl-duplicate": b"POST /v1/enroll HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "cl-and-te": b"POST /v1/enroll HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-unknown": b"POST /v1/enroll HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    "chunk-size-garbage": b"POST /v1/enroll HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "chunk-missing-crlf": b"POST /v1/enroll HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX0\r\n\r\n",
    "chunk-size-overflow": b"POST /v1/enroll HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    "te-http10": b"POST /v1/enroll HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "connect": b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n",
    "absolute-form": b"GET http://example.org/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "only-crlf-then-junk": b"\r\n\r\n\x00\x00\x00\r\n\r\n",
    "tls-in-tls": b"\x16\x03\x03\x00\x2a\x01\x00\x00\x26\x03\x03" + bytes(32) + b"\x00\x00\r\n\r\n",
    "header-no-crlf-end": b"GET /healthz HTTP/1.1\r\nHost: x\n\n\x01",
    "method-too-weird": b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "version-minor-junk": b"GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n",
}
for name, data in broken.items():
    add("http-" + name, 400, "BAD_HTTP", data)
for i in range(20):  # random binary
    n = rng.randrange(8, 200)
    data = bytes(rng.choice(b"\x00\x01\x02\x7f\xff\x80 \t{}[]<>") for _ in range(n)) + b"\r\n\r\n"
    add("http-random-%02d" % i, 400, "BAD_HTTP", data)

# 3. Oversize -> 431 / 413.
add("big-header-value", 431, "HEADERS_TOO_LARGE",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % ("a" * 17000))
add("many-small-headers-bytes", 431, "HEADERS_TOO_LARGE",
    "GET /healthz HTTP/1.1\r\n" + "".join("X-H%05d: %s\r\n" % (i, "v" * 40) for i in range(400)) + "\r\n")
add("too-many-headers", 431, "HEADERS_TOO_LARGE",
    "GET /healthz HTTP/1.1\r\n" + "".join("X-%d: 1\r\n" % i for i in range(100)) + "\r\n")
add("long-url", 431, "HEADERS_TOO_LARGE", "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % ("u" * 5000))
add("long-query", 431, "HEADERS_TOO_LARGE", "GET /v1/log/sth?%s HTTP/1.1\r\nHost: x\r\n\r\n" % ("q=1&" * 1200))
for i, cl in enumerate([4 * 1024 * 1024 + 1, 5 * 1024 * 1024, 100 * 1024 * 1024, 2**31, 2**40]):
    add("body-declared-%d" % i, 413, "BODY_TOO_LARGE",
        "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\nabc" % (PB, cl))
add("chunk-declared-huge", 413, "BODY_TOO_LARGE",
    "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n500000\r\nabc")

# 4. Expect other than 100-continue -> 417.
for i, e in enumerate(["200-ok", "100-continue-please", "x"]):
    add("expect-%d" % i, 417, "EXPECTATION_FAILED",
        "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nExpect: %s\r\nContent-Length: 3\r\n\r\nabc" % e)

# 5. Well-framed requests the application refuses.
add("unknown-path", 404, "NOT_FOUND", req("GET", "/v1/nope"))
add("unknown-root", 404, "NOT_FOUND", req("GET", "/"))
add("sth-wrong-method", 405, "METHOD_NOT_ALLOWED", req("DELETE", "/v1/log/sth"))
add("push-get", 405, "METHOD_NOT_ALLOWED", req("GET", "/v1/push"))
add("enroll-get", 405, "METHOD_NOT_ALLOWED", req("GET", "/v1/enroll"))
for i, ct in enumerate(["text/plain", "application/x-www-form-urlencoded", "application/octet-stream",
                        "multipart/form-data; boundary=x", "image/png"]):
    add("enroll-ctype-%d" % i, 415, "UNSUPPORTED_MEDIA_TYPE",
        req("POST", "/v1/enroll", [("Content-Type", ct)], b"\x0a\x01x"))
for i in range(10):
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    body = b"\xff" + body  # field number 31 wire type 7: never valid protobuf
    add("enroll-garbage-pb-%02d" % i, 400, "MALFORMED",
        req("POST", "/v1/enroll", [("Content-Type", PB)], body))
# The device API takes protobuf only: a JSON body, well-formed or not, is 415.
for i, js in enumerate(["{", "[1,2", '{"code": }', "nul\x00", '{"a":"\\x"}', "{}}", '{"a" 1}', "tru"]):
    add("enroll-bad-json-%d" % i, 415, "UNSUPPORTED_MEDIA_TYPE",
        req("POST", "/v1/enroll", [("Content-Type", "application/json")], js.encode("latin-1")))
for i, q in enumerate(["index=abc&size=2", "index=-1&size=2", "index=1&size=", "index=1x&size=2",
                       "index=1&index=2&size=3", "index=%zz&size=2"]):
    add("inclusion-bad-query-%d" % i, 400, "BAD_QUERY", req("GET", "/v1/log/proof/inclusion?" + q))
for i, q in enumerate(["first=x&second=2", "first=1&second=y", "first=&second=", "first=1%00&second=2"]):
    add("consistency-bad-query-%d" % i, 400, "BAD_QUERY", req("GET", "/v1/log/proof/consistency?" + q))
for i, h in enumerate([[], [("Authorization", "Bearer nope")], [("Authorization", "Basic YTpi")],
                       [("Authorization", "Bearer " + "0" * 64)]]):
    add("push-unauth-%d" % i, 401, "UNAUTHENTICATED",
        req("POST", "/v1/push", [("Content-Type", PB)] + h, b"\x0a\x00"))
    add("pull-unauth-%d" % i, 401, "UNAUTHENTICATED", req("GET", "/v1/pull?since=0", h))
# Issue 12: a body on a route that takes credentials is read only after they
# were checked: a push with a bad token is refused at its head (before the
# gate, the half-close in the middle of the body answered 400 "truncated").
for i, h in enumerate([[], [("Authorization", "Bearer " + "1" * 43)]]):
    head = "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 100000\r\n" % PB
    head += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
    add("push-body-unread-%d" % i, 401, "UNAUTHENTICATED", head.encode("latin-1") + b"x" * 5000)

if os.path.isdir(OUT):
    shutil.rmtree(OUT)
os.makedirs(OUT)
for i, (name, status, code, data) in enumerate(cases):
    with open(os.path.join(OUT, "%04d-%s.http" % (i, name)), "wb") as f:
        f.write(b"# expect %d %s\n" % (status, code.encode()))
        f.write(data)
print("%d cases written to %s" % (len(cases), OUT))
