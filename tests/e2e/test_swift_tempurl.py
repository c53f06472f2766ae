"""Temporary URLs: keys set and URLs made with the `swift` CLI, then used
without a token, as a browser, a VM's boot loader or Ironic uses them."""

from __future__ import annotations

import json
import time

import pytest
import requests

KEY = "acct-secret"
CKEY = "cont-secret"


@pytest.fixture(scope="module")
def setup(swift_cli, admin_conn):
    """An account key, a container key on `scoped`, and some objects."""
    swift_cli("post", "-m", f"Temp-URL-Key:{KEY}").ok()
    admin_conn.put_container("tu")
    admin_conn.put_container("scoped", headers={"X-Container-Meta-Temp-URL-Key": CKEY})
    admin_conn.put_container("other")
    admin_conn.put_object(
        "tu",
        "dir/report.pdf",
        b"report bytes",
        headers={"X-Object-Meta-Secret": "s", "X-Object-Meta-Public-Tag": "t"},
    )
    admin_conn.put_object("scoped", "in", b"inside")
    admin_conn.put_object("other", "private", b"private bytes")
    account_path = admin_conn.url.split("/v1/", 1)[1]
    return f"/v1/{account_path}"


def temp_url(swift_cli, method: str, path: str, key: str, *extra: str, ttl: str = "300") -> str:
    res = swift_cli("tempurl", *extra, method, ttl, path, key).ok()
    return res.stdout.strip()


def test_capabilities_advertise_tempurl(swift_cli):
    caps = json.loads(swift_cli("capabilities", "--json").ok().stdout)
    assert set(caps["tempurl"]["methods"]) >= {"GET", "HEAD", "PUT"}, caps["tempurl"]
    assert "sha256" in caps["tempurl"]["allowed_digests"], caps["tempurl"]


def test_get_without_token(server, swift_cli, setup):
    url = server.object_url + temp_url(swift_cli, "GET", f"{setup}/tu/dir/report.pdf", KEY)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"report bytes"
    # The download is named after the object; private metadata stays hidden.
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert "Expires" in r.headers
    assert "X-Object-Meta-Secret" not in r.headers
    assert r.headers["X-Object-Meta-Public-Tag"] == "t"
    # HEAD is allowed by a GET signature; ranges work as usual.
    assert requests.head(url, timeout=30).status_code == 200
    r = requests.get(url, headers={"Range": "bytes=0-5"}, timeout=30)
    assert r.status_code == 206 and r.content == b"report"
    # ...and inline/filename shape the disposition as Swift's do.
    r = requests.get(url + "&inline&filename=r.pdf", timeout=30)
    assert r.headers["Content-Disposition"].startswith('inline; filename="r.pdf"')


def test_signature_binds_method_path_and_time(server, swift_cli, setup):
    path = f"{setup}/tu/dir/report.pdf"
    get_url = server.object_url + temp_url(swift_cli, "GET", path, KEY)
    assert requests.put(get_url, data=b"x", timeout=30).status_code == 401
    assert requests.delete(get_url, timeout=30).status_code == 401
    # Another object under the same signature.
    r = requests.get(get_url.replace("report.pdf", "other.pdf"), timeout=30)
    assert r.status_code == 401 and r.text == "401 Unauthorized: Temp URL invalid\n"
    # A wrong key, a tampered signature, an expired URL.
    bad = server.object_url + temp_url(swift_cli, "GET", path, "not-the-key")
    assert requests.get(bad, timeout=30).status_code == 401
    sig = get_url.split("temp_url_sig=")[1].split("&")[0]
    tampered = get_url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert requests.get(tampered, timeout=30).status_code == 401
    past = str(int(time.time()) - 10)
    expired = server.object_url + temp_url(swift_cli, "GET", path, KEY, "--absolute", ttl=past)
    assert requests.get(expired, timeout=30).status_code == 401
    # The object itself is unchanged by all of this.
    assert requests.get(get_url, timeout=30).content == b"report bytes"


def test_put_then_read_with_a_token(server, swift_cli, admin_conn, setup):
    url = server.object_url + temp_url(swift_cli, "PUT", f"{setup}/tu/upload.bin", KEY)
    r = requests.put(url, data=b"uploaded via tempurl", timeout=30)
    assert r.status_code == 201, r.text
    _, body = admin_conn.get_object("tu", "upload.bin")
    assert body == b"uploaded via tempurl"
    # A write may not turn the object into a manifest of other data.
    r = requests.put(url, data=b"", headers={"X-Object-Manifest": "other/"}, timeout=30)
    assert r.status_code == 400
    assert r.text == "The header 'X-Object-Manifest' is not allowed in this tempurl"


def test_container_key_stays_in_its_container(server, swift_cli, admin_conn, setup):
    inside = f"{setup}/scoped/in"
    url = server.object_url + temp_url(swift_cli, "GET", inside, CKEY)
    assert requests.get(url, timeout=30).content == b"inside"
    # The container's key does not sign for another container...
    url = server.object_url + temp_url(swift_cli, "GET", f"{setup}/other/private", CKEY)
    assert requests.get(url, timeout=30).status_code == 401
    # ...nor does a PUT it signs read from one.
    url = server.object_url + temp_url(swift_cli, "PUT", f"{setup}/scoped/copy", CKEY)
    r = requests.put(url, data=b"", headers={"X-Copy-From": "other/private"}, timeout=30)
    assert r.status_code == 401, r.text
    # The account's key reaches the whole account.
    url = server.object_url + temp_url(swift_cli, "PUT", f"{setup}/scoped/copy", KEY)
    r = requests.put(url, data=b"", headers={"X-Copy-From": "other/private"}, timeout=30)
    assert r.status_code == 201, r.text
    assert admin_conn.get_object("scoped", "copy")[1] == b"private bytes"


def test_prefix_iso8601_ip_range_and_digests(server, swift_cli, admin_conn, setup):
    admin_conn.put_object("tu", "dir/a", b"A")
    url = server.object_url + temp_url(swift_cli, "GET", f"{setup}/tu/dir/", KEY, "--prefix-based")
    assert requests.get(url.replace("/dir/?", "/dir/a?"), timeout=30).content == b"A"
    assert requests.get(url.replace("/dir/?", "/dir/report.pdf?"), timeout=30).status_code == 200
    assert requests.get(url.replace("/tu/dir/?", "/tu/upload.bin?"), timeout=30).status_code == 401
    path = f"{setup}/tu/dir/a"
    for extra in (["--iso8601"], ["--digest", "sha512"], ["--digest", "sha1"], ["--ip-range", "127.0.0.1"]):
        url = server.object_url + temp_url(swift_cli, "GET", path, KEY, *extra)
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.content == b"A", (extra, r.status_code)
    url = server.object_url + temp_url(swift_cli, "GET", path, KEY, "--ip-range", "10.0.0.0/8")
    assert requests.get(url, timeout=30).status_code == 401


def test_keys_are_hidden_from_non_owners(swift_conn_factory, admin_conn, server, setup):
    """Only the account's owners see its keys (a reader could sign URLs)."""
    server.admin("user", "create", "tu-reader", "--password", "pw", "--project", "admin").ok()
    server.admin("role", "add", "--user", "tu-reader", "--project", "admin", "reader").ok()
    reader = swift_conn_factory("tu-reader", "pw", "admin")
    assert "x-account-meta-temp-url-key" not in reader.head_account()
    assert "x-container-meta-temp-url-key" not in reader.head_container("scoped")
    assert admin_conn.head_account()["x-account-meta-temp-url-key"] == KEY
    assert admin_conn.head_container("scoped")["x-container-meta-temp-url-key"] == CKEY


def test_only_temp_url_parameters_reach_the_object(server, swift_cli, admin_conn, setup):
    """Swift's middleware rewrites the query: a DELETE URL for a manifest
    cannot add `multipart-manifest=delete` and take the segments with it,
    and a GET URL cannot read the raw manifest."""
    admin_conn.put_object("other", "seg1", b"a" * 10)
    admin_conn.put_object("other", "seg2", b"b" * 10)
    manifest = '[{"path": "other/seg1"}, {"path": "other/seg2"}]'
    admin_conn.put_object("tu", "big", manifest, query_string="multipart-manifest=put")
    get = server.object_url + temp_url(swift_cli, "GET", f"{setup}/tu/big", KEY)
    r = requests.get(get + "&multipart-manifest=get", timeout=30)
    assert r.status_code == 200 and r.content == b"a" * 10 + b"b" * 10
    delete = server.object_url + temp_url(swift_cli, "DELETE", f"{setup}/tu/big", KEY)
    r = requests.delete(delete + "&multipart-manifest=delete", timeout=30)
    assert r.status_code == 204, r.text
    assert admin_conn.get_object("other", "seg1")[1] == b"a" * 10
    assert admin_conn.get_object("other", "seg2")[1] == b"b" * 10
