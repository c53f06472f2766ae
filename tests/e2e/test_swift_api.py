"""Swift object API semantics through python-swiftclient and raw HTTP."""

from __future__ import annotations

import email.utils
import json
import os
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from swiftclient.exceptions import ClientException

import util

DATA = bytes(range(256)) * 8 + b"tail-bytes"  # 2058 bytes, every offset distinct mod 256


def client_error(fn, *args, **kwargs) -> ClientException:
    with pytest.raises(ClientException) as exc:
        fn(*args, **kwargs)
    return exc.value


@pytest.fixture(scope="module")
def conn(admin_conn):
    admin_conn.put_container("api")
    admin_conn.put_object("api", "data.bin", DATA)
    return admin_conn


@pytest.fixture(scope="module")
def auth(conn):
    url, token = conn.get_auth()
    return url, token


def raw(method, auth, path="", **kw):
    url, token = auth
    headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
    return requests.request(method, f"{url}{path}", headers=headers, timeout=30, **kw)


@pytest.mark.parametrize(
    "rng,start,end",
    [("bytes=10-19", 10, 20), ("bytes=-5", len(DATA) - 5, len(DATA)), ("bytes=100-", 100, len(DATA)),
     ("bytes=0-0", 0, 1), ("bytes=2000-99999", 2000, len(DATA))],
)
def test_single_range(conn, rng, start, end):
    headers, body = conn.get_object("api", "data.bin", headers={"Range": rng})
    assert body == DATA[start:end]
    assert headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert int(headers["content-length"]) == end - start


def test_range_status_is_206(auth):
    r = raw("GET", auth, "/api/data.bin", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == DATA[10:20]
    r = raw("GET", auth, "/api/data.bin")
    assert r.status_code == 200 and r.content == DATA
    assert r.headers.get("Accept-Ranges") == "bytes"


def test_multi_range(conn):
    headers, body = conn.get_object("api", "data.bin", headers={"Range": "bytes=0-9,20-29,-4"})
    parts = util.parse_multipart_byteranges(headers["content-type"], body)
    n = len(DATA)
    assert parts == [
        (f"bytes 0-9/{n}", DATA[0:10]),
        (f"bytes 20-29/{n}", DATA[20:30]),
        (f"bytes {n - 4}-{n - 1}/{n}", DATA[-4:]),
    ]


@pytest.mark.parametrize("rng", ["bytes=5000-6000", "bytes=2058-"])
def test_unsatisfiable_range_is_416(conn, auth, rng):
    assert client_error(conn.get_object, "api", "data.bin", headers={"Range": rng}).http_status == 416
    r = raw("GET", auth, "/api/data.bin", headers={"Range": rng})
    assert r.status_code == 416
    assert r.headers.get("Content-Range") == f"bytes */{len(DATA)}"


def test_malformed_range_is_ignored(conn):
    # RFC 7233 (and Swift): an unparsable Range header means the whole object.
    headers, body = conn.get_object("api", "data.bin", headers={"Range": "bytes=oops"})
    assert body == DATA


def test_conditional_requests(conn, auth):
    etag = util.md5_hex(DATA)
    headers = conn.head_object("api", "data.bin")
    assert headers["etag"].strip('"') == etag
    _, body = conn.get_object("api", "data.bin", headers={"If-Match": f'"{etag}"'})
    assert body == DATA
    assert client_error(conn.get_object, "api", "data.bin", headers={"If-Match": '"nope"'}).http_status == 412
    assert client_error(conn.get_object, "api", "data.bin", headers={"If-None-Match": f'"{etag}"'}).http_status == 304
    assert client_error(conn.get_object, "api", "data.bin", headers={"If-None-Match": "*"}).http_status == 304
    _, body = conn.get_object("api", "data.bin", headers={"If-None-Match": '"other"'})
    assert body == DATA

    last_modified = email.utils.parsedate_to_datetime(headers["last-modified"])
    later = email.utils.format_datetime(last_modified.replace(year=last_modified.year + 1), usegmt=True)
    earlier = email.utils.format_datetime(last_modified.replace(year=last_modified.year - 1), usegmt=True)
    r = raw("GET", auth, "/api/data.bin", headers={"If-Modified-Since": later})
    assert r.status_code == 304 and r.content == b""
    assert r.headers.get("ETag", "").strip('"') == etag
    r = raw("GET", auth, "/api/data.bin", headers={"If-Modified-Since": headers["last-modified"]})
    assert r.status_code == 304
    r = raw("GET", auth, "/api/data.bin", headers={"If-Modified-Since": earlier})
    assert r.status_code == 200 and r.content == DATA
    r = raw("GET", auth, "/api/data.bin", headers={"If-Unmodified-Since": earlier})
    assert r.status_code == 412
    r = raw("HEAD", auth, "/api/data.bin", headers={"If-None-Match": f'"{etag}"'})
    assert r.status_code == 304


def test_object_metadata_round_trip(conn):
    conn.put_object(
        "api", "meta.txt", b"m",
        headers={"X-Object-Meta-Color": "Blue", "X-Object-Meta-Two-Words": "a b c"},
    )
    h = conn.head_object("api", "meta.txt")
    assert h["x-object-meta-color"] == "Blue"
    assert h["x-object-meta-two-words"] == "a b c"
    h, _ = conn.get_object("api", "meta.txt")
    assert h["x-object-meta-color"] == "Blue"
    # POST replaces the whole set of user metadata.
    conn.post_object("api", "meta.txt", headers={"X-Object-Meta-New": "1"})
    h = conn.head_object("api", "meta.txt")
    assert h.get("x-object-meta-new") == "1"
    assert "x-object-meta-color" not in h
    assert conn.get_object("api", "meta.txt")[1] == b"m"


def test_container_and_account_metadata(conn):
    conn.post_container("api", {"X-Container-Meta-Project": "atoll"})
    assert conn.head_container("api")["x-container-meta-project"] == "atoll"
    conn.post_container("api", {"X-Remove-Container-Meta-Project": "x"})
    assert "x-container-meta-project" not in conn.head_container("api")
    conn.post_account({"X-Account-Meta-Owner": "ops"})
    assert conn.head_account()["x-account-meta-owner"] == "ops"


def test_content_type_given_and_guessed(conn, auth):
    conn.put_object("api", "given.dat", b"{}", content_type="application/x-custom")
    assert conn.head_object("api", "given.dat")["content-type"] == "application/x-custom"
    r = raw("PUT", auth, "/api/page.html", data=b"<html></html>")
    assert r.status_code == 201, r.text
    assert conn.head_object("api", "page.html")["content-type"].startswith("text/html")
    conn.put_object("api", "pic.png", b"\x89PNG")
    assert conn.head_object("api", "pic.png")["content-type"] == "image/png"
    r = raw("PUT", auth, "/api/noext", data=b"x")
    assert r.status_code == 201
    assert conn.head_object("api", "noext")["content-type"] == "application/octet-stream"


@pytest.mark.slow
def test_delete_after(conn):
    conn.put_object("api", "ephemeral", b"soon gone", headers={"X-Delete-After": "2"})
    h = conn.head_object("api", "ephemeral")
    assert "x-delete-at" in h
    assert abs(int(h["x-delete-at"]) - (time.time() + 2)) < 5
    assert conn.get_object("api", "ephemeral")[1] == b"soon gone"
    time.sleep(3.2)
    assert client_error(conn.get_object, "api", "ephemeral").http_status == 404
    assert client_error(conn.head_object, "api", "ephemeral").http_status == 404
    # X-Delete-At in the past is rejected.
    err = client_error(conn.put_object, "api", "past", b"x", headers={"X-Delete-At": str(int(time.time()) - 10)})
    assert err.http_status == 400


def test_copy_and_copy_from(conn, auth):
    payload = os.urandom(300_000)
    conn.put_object("api", "src.bin", payload, headers={"X-Object-Meta-Origin": "src"})
    conn.copy_object("api", "src.bin", destination="/api/copied.bin")
    r = raw("PUT", auth, "/api/copied-from.bin", data=b"", headers={"X-Copy-From": "/api/src.bin"})
    assert r.status_code == 201, r.text
    for name in ("copied.bin", "copied-from.bin"):
        h, body = conn.get_object("api", name)
        assert body == payload, name
        assert h["etag"] == util.md5_hex(payload)
        assert h["x-object-meta-origin"] == "src"
    # The copies are independent of the source.
    conn.delete_object("api", "src.bin")
    assert conn.get_object("api", "copied.bin")[1] == payload
    r = raw("PUT", auth, "/api/nothing", data=b"", headers={"X-Copy-From": "/api/src.bin"})
    assert r.status_code == 404


@pytest.fixture(scope="module")
def listing(conn):
    names = ["a/1", "a/2", "b/1", "c", "d", "e/x/1"]
    conn.put_container("lst")
    for n in names:
        conn.put_object("lst", n, n.encode())
    for c in ("lst-acc-1", "lst-acc-2", "lst-acc-3"):
        conn.put_container(c)
    return names


def _names(r: requests.Response, fmt: str) -> list[str]:
    assert r.status_code in (200, 204), (r.status_code, r.text)
    if fmt == "json":
        return [e.get("name") or e.get("subdir") for e in r.json()]
    if fmt == "xml":
        root = ET.fromstring(r.content)
        out = []
        for child in root:
            if child.tag == "subdir":
                out.append(child.get("name") or child.findtext("name"))
            else:
                out.append(child.findtext("name"))
        return out
    return r.text.splitlines()


@pytest.mark.parametrize("fmt", ["plain", "json", "xml"])
@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, ["a/1", "a/2", "b/1", "c", "d", "e/x/1"]),
        ({"prefix": "a/"}, ["a/1", "a/2"]),
        ({"delimiter": "/"}, ["a/", "b/", "c", "d", "e/"]),
        ({"prefix": "e/", "delimiter": "/"}, ["e/x/"]),
        ({"marker": "b/1"}, ["c", "d", "e/x/1"]),
        ({"end_marker": "c"}, ["a/1", "a/2", "b/1"]),
        ({"marker": "a/1", "end_marker": "d"}, ["a/2", "b/1", "c"]),
        ({"limit": "2"}, ["a/1", "a/2"]),
        ({"reverse": "true"}, ["e/x/1", "d", "c", "b/1", "a/2", "a/1"]),
        ({"reverse": "true", "limit": "2", "marker": "d"}, ["c", "b/1"]),
    ],
)
def test_container_listing(auth, listing, fmt, params, expected):
    q = dict(params)
    if fmt != "plain":
        q["format"] = fmt
    r = raw("GET", auth, "/lst", params=q)
    assert _names(r, fmt) == expected
    ctype = r.headers.get("Content-Type", "")
    want = {"plain": "text/plain", "json": "application/json", "xml": "application/xml"}[fmt]
    assert ctype.startswith(want), ctype


def test_container_listing_json_fields(conn, listing):
    _, objs = conn.get_container("lst", prefix="c")
    assert len(objs) == 1
    o = objs[0]
    assert o["name"] == "c" and o["bytes"] == 1 and o["hash"] == util.md5_hex(b"c")
    assert o["content_type"] and o["last_modified"]
    _, objs = conn.get_container("lst", delimiter="/", prefix="a")
    assert objs == [{"subdir": "a/"}]
    h, _ = conn.get_container("lst")
    assert h["x-container-object-count"] == "6"
    assert h["x-container-bytes-used"] == str(sum(len(n) for n in listing))


def test_xml_listing_shape(auth, listing):
    r = raw("GET", auth, "/lst", params={"format": "xml", "prefix": "c"})
    root = ET.fromstring(r.content)
    assert root.tag == "container" and root.get("name") == "lst"
    obj = root.find("object")
    assert obj.findtext("name") == "c" and obj.findtext("bytes") == "1"
    assert obj.findtext("hash") == util.md5_hex(b"c")


@pytest.mark.parametrize("fmt", ["plain", "json", "xml"])
def test_account_listing(auth, listing, fmt):
    q = {"prefix": "lst-acc-"}
    if fmt != "plain":
        q["format"] = fmt
    assert _names(raw("GET", auth, "", params=q), fmt) == ["lst-acc-1", "lst-acc-2", "lst-acc-3"]
    assert _names(raw("GET", auth, "", params={**q, "marker": "lst-acc-1", "limit": "1"}), fmt) == ["lst-acc-2"]
    assert _names(raw("GET", auth, "", params={**q, "end_marker": "lst-acc-2"}), fmt) == ["lst-acc-1"]
    assert _names(raw("GET", auth, "", params={**q, "reverse": "on"}), fmt) == [
        "lst-acc-3", "lst-acc-2", "lst-acc-1"]
    if fmt == "xml":
        root = ET.fromstring(raw("GET", auth, "", params=q).content)
        assert root.tag == "account"


def test_empty_listing_is_204_in_plain(auth, listing):
    r = raw("GET", auth, "/lst", params={"prefix": "zzz"})
    assert r.status_code == 204 and r.content == b""
    r = raw("GET", auth, "/lst", params={"prefix": "zzz", "format": "json"})
    assert r.status_code == 200 and r.json() == []


def test_delete_non_empty_container_is_409(conn, listing):
    assert client_error(conn.delete_container, "lst").http_status == 409
    assert len(conn.get_container("lst")[1]) == len(listing)
    conn.put_container("empty-one")
    conn.delete_container("empty-one")
    assert client_error(conn.head_container, "empty-one").http_status == 404


def test_missing_things_are_404(conn):
    assert client_error(conn.get_object, "api", "no-such-object").http_status == 404
    assert client_error(conn.get_container, "no-such-container").http_status == 404
    assert client_error(conn.put_object, "no-such-container", "x", b"x").http_status == 404
    assert client_error(conn.delete_object, "api", "no-such-object").http_status == 404


def test_info(server):
    r = requests.get(f"{server.object_url}/info", timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert {"swift", "slo", "bulk_delete"} <= set(info), sorted(info)
    assert info["swift"]["max_file_size"] > 0
    assert info["swift"]["max_meta_name_length"] == 128
    assert info["swift"]["max_meta_value_length"] == 256
    assert info["swift"]["max_object_name_length"] == 1024
    assert info["swift"]["container_listing_limit"] >= 1


def test_healthcheck(server):
    r = requests.get(f"{server.object_url}/healthcheck", timeout=10)
    assert r.status_code == 200 and r.text == "OK"


def test_bulk_delete(conn, auth):
    conn.put_container("bulk")
    for i in range(5):
        conn.put_object("bulk", f"o{i}", b"x")
    body = "\n".join(f"/bulk/o{i}" for i in range(5)) + "\n/bulk/missing\n"
    r = raw("POST", auth, "", params={"bulk-delete": ""}, data=body.encode(),
            headers={"Content-Type": "text/plain", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["Number Deleted"] == 5 and result["Number Not Found"] == 1, result
    assert conn.get_container("bulk")[1] == []


def test_chunked_put_returns_etag(conn, auth):
    payload = os.urandom(1 << 20)

    def gen():
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    r = raw("PUT", auth, "/api/chunked.bin", data=gen())
    assert r.status_code == 201, r.text
    assert r.headers["Etag"].strip('"') == util.md5_hex(payload)
    assert conn.get_object("api", "chunked.bin")[1] == payload
    h = conn.head_object("api", "chunked.bin")
    assert int(h["content-length"]) == len(payload)


@pytest.mark.parametrize(
    "size",
    [0, 1, (64 << 10) - 1, 64 << 10, (64 << 10) + 1, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, (8 << 20) + 3],
)
def test_sizes_around_inline_and_block_boundaries(conn, size):
    data = os.urandom(size)
    name = f"size-{size}"
    assert conn.put_object("api", name, data) == util.md5_hex(data)
    h, body = conn.get_object("api", name)
    assert body == data and int(h["content-length"]) == size
    if size >= 3:
        mid = size // 2
        h, body = conn.get_object("api", name, headers={"Range": f"bytes={mid - 1}-{mid + 1}"})
        assert body == data[mid - 1 : mid + 2]
    if size > (64 << 10):
        # A range across the first 64 KiB and 4 MiB boundaries that exist.
        for edge in (64 << 10, 4 << 20):
            if size > edge + 2:
                _, body = conn.get_object("api", name, headers={"Range": f"bytes={edge - 2}-{edge + 1}"})
                assert body == data[edge - 2 : edge + 2], edge
    conn.delete_object("api", name)


@pytest.mark.parametrize(
    "name",
    ["ünïcødé/☃ snow.txt", "with space", "q?a=1&b=2#frag", "100%25 literal %", "a//double/slash", "trailing/"],
)
def test_object_names_round_trip(conn, name):
    conn.put_container("names")
    conn.put_object("names", name, name.encode())
    assert conn.get_object("names", name)[1] == name.encode()
    listed = [o["name"] for o in conn.get_container("names", full_listing=True)[1]]
    assert name in listed
    conn.delete_object("names", name)
    listed = [o["name"] for o in conn.get_container("names", full_listing=True)[1]]
    assert name not in listed


def test_overwrite_updates_content_and_usage(conn):
    conn.put_container("over")
    conn.put_object("over", "o", b"x" * 1000)
    conn.put_object("over", "o", b"y" * 10)
    assert conn.get_object("over", "o")[1] == b"y" * 10
    h = conn.head_container("over")
    assert h["x-container-object-count"] == "1" and h["x-container-bytes-used"] == "10"
    acc = conn.head_account()
    assert int(acc["x-account-object-count"]) >= 1
    assert int(acc["x-account-container-count"]) >= 1


def test_listing_limit_over_maximum_is_412(server, auth, listing):
    info = requests.get(f"{server.object_url}/info", timeout=10).json()["swift"]
    over = info["container_listing_limit"] + 1
    assert raw("GET", auth, "/lst", params={"limit": str(over)}).status_code == 412
    assert raw("GET", auth, "", params={"limit": str(info["account_listing_limit"] + 1)}).status_code == 412


def _expect_continue_put(server, auth, obj: str, body: bytes, token: str | None = None):
    import socket
    from urllib.parse import urlsplit

    url, good = auth
    s = socket.create_connection(("127.0.0.1", server.object_port), timeout=15)
    try:
        s.sendall(
            (
                f"PUT {urlsplit(url).path}/api/{obj} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Auth-Token: {token or good}\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        got = s.recv(4096)
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        if got.startswith(interim):
            got = got[len(interim) :]
            if not got:
                s.sendall(body)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def test_expect_100_continue(conn, server, auth):
    body = os.urandom(200_000)
    resp = _expect_continue_put(server, auth, "expect.bin", body)
    assert util.status_of(resp) == 201, resp[:300]
    assert conn.get_object("api", "expect.bin")[1] == body
    # A bad token is refused (Swift does so before asking for the body).
    resp = _expect_continue_put(server, auth, "expect-denied.bin", body, token="bogus")
    assert util.status_of(resp) == 401, resp[:300]
    assert client_error(conn.head_object, "api", "expect-denied.bin").http_status == 404


def test_container_quotas(conn):
    """Swift's container_quotas: byte and count limits on what uploads add."""
    conn.put_container("quota")
    e = client_error(conn.post_container, "quota", {"X-Container-Meta-Quota-Bytes": "ten"})
    assert e.http_status == 400 and e.http_response_content == b"Invalid bytes quota."
    e = client_error(conn.post_container, "quota", {"X-Container-Meta-Quota-Count": "-1"})
    assert e.http_status == 400 and e.http_response_content == b"Invalid count quota."
    conn.post_container(
        "quota", {"X-Container-Meta-Quota-Bytes": "10", "X-Container-Meta-Quota-Count": "2"}
    )
    e = client_error(conn.put_object, "quota", "big", b"01234567890")
    assert e.http_status == 413 and e.http_response_content == b"Upload exceeds quota."
    conn.put_object("quota", "a", b"0123456789")
    # Full by bytes: one more byte is refused... until the quota rises.
    e = client_error(conn.put_object, "quota", "b", b"x")
    assert e.http_status == 413
    conn.post_container("quota", {"X-Container-Meta-Quota-Bytes": "100"})
    conn.put_object("quota", "b", b"x")
    # Two objects: the count quota refuses a third, copies included.
    e = client_error(conn.put_object, "quota", "c", b"y")
    assert e.http_status == 413
    e = client_error(
        conn.put_object, "quota", "c", b"", headers={"X-Copy-From": "quota/a"}
    )
    assert e.http_status == 413
    assert [o["name"] for o in conn.get_container("quota")[1]] == ["a", "b"]
    # Removing the quotas lifts them.
    conn.post_container(
        "quota", {"X-Container-Meta-Quota-Bytes": "", "X-Container-Meta-Quota-Count": ""}
    )
    conn.put_object("quota", "c", b"y")
    assert "container_quotas" in conn.get_capabilities()


def test_empty_object_metadata_is_kept_and_copies_answer_with_metadata(conn):
    """Swift keeps `X-Object-Meta-Foo:` with an empty value on objects
    (PUT, POST, copy), removes with `X-Remove-Object-Meta-Foo`, and a copy
    answers with the new object's metadata."""
    conn.put_object("api", "empty-meta", b"x", headers={"X-Object-Meta-Blank": ""})
    assert conn.head_object("api", "empty-meta")["x-object-meta-blank"] == ""
    conn.post_object("api", "empty-meta", {"X-Object-Meta-Other": "", "X-Object-Meta-Set": "v"})
    h = conn.head_object("api", "empty-meta")
    assert h["x-object-meta-other"] == "" and h["x-object-meta-set"] == "v"
    assert "x-object-meta-blank" not in h  # a POST replaces all metadata
    conn.post_object("api", "empty-meta", {"X-Object-Meta-Set": "v", "X-Remove-Object-Meta-Set": "x"})
    assert "x-object-meta-set" not in conn.head_object("api", "empty-meta")
    conn.post_object("api", "empty-meta", {"X-Object-Meta-Src": "s"})
    resp = {}
    conn.put_object(
        "api",
        "empty-meta-copy",
        b"",
        headers={"X-Copy-From": "api/empty-meta", "X-Object-Meta-Test": ""},
        response_dict=resp,
    )
    h = resp["headers"]
    assert h["x-object-meta-test"] == "" and h["x-object-meta-src"] == "s", h
    assert h["x-copied-from"] == "api/empty-meta"


def test_account_reports_usage_per_storage_policy(conn):
    h = conn.head_account()
    assert int(h["x-account-container-count"]) > 0
    for k in ("container-count", "object-count", "bytes-used"):
        assert h[f"x-account-storage-policy-default-{k}"] == h[f"x-account-{k}"], h


def test_container_with_only_expired_objects_can_be_deleted(conn):
    conn.put_container("expiring")
    conn.put_object("expiring", "soon", b"x", headers={"X-Delete-After": "1"})
    e = client_error(conn.delete_container, "expiring")
    assert e.http_status == 409
    time.sleep(2.1)
    # Gone for clients before the expirer comes by: not listed, not held.
    assert conn.get_container("expiring")[1] == []
    conn.delete_container("expiring")
