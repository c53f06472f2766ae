"""Bad input: the right Swift status and plain-text body, no partial writes,
no leaked blocks, and a server that stays up."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
import requests
from swiftclient.exceptions import ClientException

import util

GC_CONFIG = "[gc]\ninterval_secs = 1\ngrace_secs = 2\n"


@pytest.fixture(scope="module")
def server_config():
    return GC_CONFIG


@pytest.fixture(scope="module")
def conn(admin_conn):
    admin_conn.put_container("bad")
    admin_conn.put_object("bad", "keep", b"original", headers={"X-Object-Meta-State": "original"})
    admin_conn.post_container("bad", {"X-Container-Meta-State": "original"})
    return admin_conn


@pytest.fixture(scope="module")
def auth(conn):
    return conn.get_auth()


@pytest.fixture(autouse=True)
def server_stays_up(server):
    yield
    assert server.alive(), "atoll exited"
    assert server.healthy(), "atoll /healthcheck does not answer 200 OK"


def raw(method, auth, path="", **kw):
    url, token = auth
    headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
    return requests.request(method, f"{url}{path}", headers=headers, timeout=30, **kw)


def plain_error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain") or ctype.startswith("text/html"), ctype
    assert not r.text.lstrip().startswith("{"), r.text
    return r.text


def names(conn, container="bad", **kw) -> list[str]:
    return [o["name"] for o in conn.get_container(container, full_listing=True, **kw)[1]]


def assert_unchanged(conn):
    h, body = conn.get_object("bad", "keep")
    assert body == b"original"
    assert h.get("x-object-meta-state") == "original", h
    assert conn.head_container("bad").get("x-container-meta-state") == "original"


def test_container_name_length(conn, auth):
    r = raw("PUT", auth, "/" + "c" * 257)
    assert "256" in plain_error(r, 400)
    assert raw("PUT", auth, "/" + "c" * 256).status_code == 201
    listed = [c["name"] for c in conn.get_account(full_listing=True)[1]]
    assert "c" * 256 in listed and "c" * 257 not in listed


def test_container_name_with_encoded_slash(conn, auth):
    before = [c["name"] for c in conn.get_account(full_listing=True)[1]]
    r = raw("PUT", auth, "/a%2Fb")
    assert r.status_code in (400, 404), (r.status_code, r.text)
    after = [c["name"] for c in conn.get_account(full_listing=True)[1]]
    assert after == before


def test_object_name_length(conn, auth):
    r = raw("PUT", auth, "/bad/" + "o" * 1025, data=b"x")
    assert "1024" in plain_error(r, 400)
    assert raw("PUT", auth, "/bad/" + "o" * 1024, data=b"x").status_code == 201
    listed = names(conn, prefix="ooo")
    assert listed == ["o" * 1024]
    conn.delete_object("bad", "o" * 1024)


@pytest.mark.parametrize("path", ["/bad/%FF%FE", "/bad/nul%00byte", "/%FFcontainer"])
def test_invalid_utf8_or_nul_in_names_is_412(conn, auth, path):
    r = raw("PUT", auth, path, data=b"x")
    assert r.status_code in (400, 412), (r.status_code, r.text)
    assert names(conn) == ["keep"]


def _meta(prefix: str, case: str) -> dict[str, str]:
    if case == "name-129":
        return {prefix + "n" * 129: "v"}
    if case == "value-257":
        return {prefix + "big": "v" * 257}
    if case == "91-keys":
        return {f"{prefix}k{i:02d}": "v" for i in range(91)}
    if case == "total-4097":
        # 16 x (3 + 253) = 4096, plus one more byte of value.
        m = {f"{prefix}k{i:02d}": "v" * 253 for i in range(16)}
        m[f"{prefix}k00"] += "v"
        return m
    raise ValueError(case)


def _meta_ok(prefix: str, case: str) -> dict[str, str]:
    if case == "name-129":
        return {prefix + "n" * 128: "v"}
    if case == "value-257":
        return {prefix + "big": "v" * 256}
    if case == "91-keys":
        return {f"{prefix}k{i:02d}": "v" for i in range(90)}
    if case == "total-4097":
        return {f"{prefix}k{i:02d}": "v" * 253 for i in range(16)}
    raise ValueError(case)


CASES = ["name-129", "value-257", "91-keys", "total-4097"]


@pytest.mark.parametrize("case", CASES)
def test_oversized_object_metadata_is_400(conn, auth, case):
    meta = _meta("X-Object-Meta-", case)
    r = raw("PUT", auth, "/bad/keep", data=b"replaced", headers=meta)
    assert "metadata" in plain_error(r, 400).lower()
    r = raw("PUT", auth, "/bad/fresh-meta", data=b"new", headers=meta)
    plain_error(r, 400)
    r = raw("POST", auth, "/bad/keep", headers=meta)
    assert "metadata" in plain_error(r, 400).lower()
    assert_unchanged(conn)
    assert "fresh-meta" not in names(conn)


@pytest.mark.parametrize("case", CASES)
def test_oversized_container_and_account_metadata_is_400(conn, auth, case):
    r = raw("POST", auth, "/bad", headers=_meta("X-Container-Meta-", case))
    assert "metadata" in plain_error(r, 400).lower()
    r = raw("PUT", auth, "/bad-meta-new", headers=_meta("X-Container-Meta-", case))
    plain_error(r, 400)
    r = raw("POST", auth, "", headers=_meta("X-Account-Meta-", case))
    plain_error(r, 400)
    assert_unchanged(conn)
    with pytest.raises(ClientException) as exc:
        conn.head_container("bad-meta-new")
    assert exc.value.http_status == 404


@pytest.mark.parametrize("case", CASES)
def test_metadata_at_the_limits_is_accepted(conn, auth, case):
    meta = _meta_ok("X-Object-Meta-", case)
    r = raw("PUT", auth, "/bad/at-limit", data=b"ok", headers=meta)
    assert r.status_code == 201, r.text
    h = conn.head_object("bad", "at-limit")
    assert sum(1 for k in h if k.startswith("x-object-meta-")) == len(meta)
    conn.delete_object("bad", "at-limit")


def test_etag_mismatch_is_422_and_stores_nothing(conn, auth):
    wrong = util.md5_hex(b"something else")
    r = raw("PUT", auth, "/bad/etag-new", data=b"payload", headers={"ETag": wrong})
    plain_error(r, 422)
    r = raw("PUT", auth, "/bad/keep", data=b"payload", headers={"ETag": wrong})
    plain_error(r, 422)
    # Large enough to reach the chunk store.
    body = os.urandom(5 << 20)
    r = raw("PUT", auth, "/bad/etag-big", data=body, headers={"ETag": wrong})
    plain_error(r, 422)
    assert names(conn) == ["keep"]
    assert_unchanged(conn)
    r = raw("PUT", auth, "/bad/etag-ok", data=b"payload", headers={"ETag": util.md5_hex(b"payload")})
    assert r.status_code == 201
    conn.delete_object("bad", "etag-ok")


@pytest.mark.parametrize(
    "header,value,status",
    [("X-Delete-After", "soon", 400), ("X-Delete-At", "tomorrow", 400),
     ("Content-Length", "12abc", 400), ("X-Copy-From", "no-slash-here", 412)],
)
def test_bad_headers(conn, auth, server, header, value, status):
    url, token = auth
    path = urlsplit(url).path + "/bad/badhdr"
    # A copy request carries no body (Swift answers 400 to one that does).
    body = "" if header == "X-Copy-From" else "x"
    length = "" if header == "Content-Length" else f"Content-Length: {len(body)}\r\n"
    req = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
        f"{length}{header}: {value}\r\nConnection: close\r\n\r\n{body}"
    ).encode()
    resp = util.raw_http(server.object_port, req, timeout=10)
    assert util.status_of(resp) == status, resp[:500]
    assert names(conn) == ["keep"]


def test_content_length_over_max_file_size_is_413(conn, auth, server):
    url, token = auth
    # Swift refuses only lengths above max_file_size (5 GiB + 2 by default).
    max_file_size = json.loads(
        urllib.request.urlopen(f"http://127.0.0.1:{server.object_port}/info", timeout=10).read()
    )["swift"]["max_file_size"]
    path = urlsplit(url).path + "/bad/huge"
    req = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
        f"Content-Length: {max_file_size + 1}\r\nConnection: close\r\n\r\n"
    ).encode()
    resp = util.raw_http(server.object_port, req, timeout=15)
    assert util.status_of(resp) == 413, resp[:500]
    assert names(conn) == ["keep"]


def _short_body_put(server, auth, obj: str, declared: int, sent: bytes, shut_write: bool):
    url, token = auth
    path = urlsplit(url).path + f"/bad/{obj}"
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
        f"Content-Length: {declared}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    s = socket.create_connection(("127.0.0.1", server.object_port), timeout=10)
    try:
        s.sendall(head)
        view = memoryview(sent)
        for i in range(0, len(view), 1 << 20):
            s.sendall(view[i : i + (1 << 20)])
        if shut_write:
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)  # whatever the server says, if anything
            except OSError:
                pass
    finally:
        s.close()


@pytest.mark.parametrize("shut_write", [True, False], ids=["half-close", "close"])
def test_content_length_longer_than_body_stores_nothing(conn, auth, server, shut_write):
    _short_body_put(server, auth, "short-new", 100_000, b"z" * 1000, shut_write)
    _short_body_put(server, auth, "keep", 100_000, b"z" * 1000, shut_write)
    time.sleep(1.5)
    assert names(conn) == ["keep"]
    with pytest.raises(ClientException) as exc:
        conn.head_object("bad", "short-new")
    assert exc.value.http_status == 404
    assert_unchanged(conn)


@pytest.mark.slow
def test_disconnect_mid_upload_leaks_no_fragments(conn, auth, server):
    before = util.fragment_files(server.data_dir)
    url, token = auth
    path = urlsplit(url).path + "/bad/aborted-20m"
    s = socket.create_connection(("127.0.0.1", server.object_port), timeout=30)
    try:
        s.sendall(
            (
                f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
                f"Content-Length: {20 << 20}\r\n\r\n"
            ).encode()
        )
        for _ in range(10):
            s.sendall(os.urandom(1 << 20))
        # 10 MiB is two full 4 MiB blocks: a streaming upload stores them
        # before the body ends. Then the client vanishes.
        util.wait_until(
            lambda: util.fragment_files(server.data_dir) - before,
            timeout=20, what="the partial upload's first blocks to reach blocks/dev*",
        )
    finally:
        s.close()
    time.sleep(0.5)
    assert "aborted-20m" not in names(conn)
    assert server.healthy()

    # gc: interval 1 s, grace 2 s.
    util.wait_until(
        lambda: not (util.fragment_files(server.data_dir) - before),
        timeout=30, interval=0.5, what="GC to remove the aborted upload's fragments",
    )
    assert names(conn) == ["keep"]
    assert_unchanged(conn)


@pytest.mark.slow
def test_deleted_object_fragments_are_collected(conn, server):
    """Control for the leak check: a stored 9 MiB object does create fragment
    files, and deleting it lets GC remove them."""
    before = util.fragment_files(server.data_dir)
    conn.put_object("bad", "gc-me", os.urandom(9 << 20))
    created = util.fragment_files(server.data_dir) - before
    assert created, "a 9 MiB object left no fragment file under blocks/dev*"
    conn.delete_object("bad", "gc-me")
    util.wait_until(
        lambda: not (created & util.fragment_files(server.data_dir)),
        timeout=30, interval=0.5, what="GC to remove a deleted object's fragments",
    )
    assert_unchanged(conn)
