"""Object versioning in Swift's legacy modes (`X-Versions-Location`,
`X-History-Location`), set up with the `swift` CLI as users do."""

from __future__ import annotations

import pytest
import requests
from swiftclient.exceptions import ClientException


def names(conn, container: str) -> list[str]:
    return [o["name"] for o in conn.get_container(container)[1]]


def test_stack_mode_keeps_and_restores_versions(swift_cli, admin_conn):
    swift_cli("post", "archive").ok()
    swift_cli("post", "-H", "X-Versions-Location: archive", "docs").ok()
    assert admin_conn.head_container("docs")["x-versions-location"] == "archive"
    for body in (b"v1", b"v2", b"v3"):
        admin_conn.put_object("docs", "report", body)
    # Two archived versions, named <3 hex digits of the length><name>/<timestamp>.
    archived = names(admin_conn, "archive")
    assert len(archived) == 2 and all(n.startswith("006report/") for n in archived), archived
    assert [admin_conn.get_object("archive", n)[1] for n in archived] == [b"v1", b"v2"]
    # A copy over the object is an overwrite too.
    admin_conn.put_object("docs", "other", b"copied")
    admin_conn.copy_object("docs", "other", "/docs/report")
    assert len(names(admin_conn, "archive")) == 3
    # Each DELETE brings back the version before.
    for expected in (b"v3", b"v2", b"v1"):
        admin_conn.delete_object("docs", "report")
        assert admin_conn.get_object("docs", "report")[1] == expected
    admin_conn.delete_object("docs", "report")
    with pytest.raises(ClientException) as e:
        admin_conn.get_object("docs", "report")
    assert e.value.http_status == 404
    assert names(admin_conn, "archive") == []
    # Turning versioning off stops archiving.
    swift_cli("post", "-H", "X-Remove-Versions-Location: x", "docs").ok()
    assert "x-versions-location" not in admin_conn.head_container("docs")
    admin_conn.put_object("docs", "plain", b"1")
    admin_conn.put_object("docs", "plain", b"2")
    assert names(admin_conn, "archive") == []


def test_history_mode_archives_on_delete(swift_cli, admin_conn):
    swift_cli("post", "history").ok()
    swift_cli("post", "-H", "X-History-Location: history", "logs").ok()
    assert admin_conn.head_container("logs")["x-history-location"] == "history"
    admin_conn.put_object("logs", "day", b"one")
    admin_conn.put_object("logs", "day", b"two")
    admin_conn.delete_object("logs", "day")
    with pytest.raises(ClientException):
        admin_conn.get_object("logs", "day")
    _, listing = admin_conn.get_container("history")
    # Both versions, then the delete marker.
    assert [o["content_type"] for o in listing][-1] == (
        "application/x-deleted;swift_versions_deleted=1"
    )
    assert [admin_conn.get_object("history", o["name"])[1] for o in listing[:2]] == [b"one", b"two"]


def test_bad_versioning_requests(admin_conn):
    with pytest.raises(ClientException) as e:
        admin_conn.post_container(
            "docs", {"X-Versions-Location": "a", "X-History-Location": "b"}
        )
    assert e.value.http_status == 400
    with pytest.raises(ClientException) as e:
        admin_conn.post_container("docs", {"X-Versions-Location": "a/b"})
    assert e.value.http_status == 412
    # An archive container that does not exist fails the overwrite.
    admin_conn.put_container("orphan", headers={"X-Versions-Location": "missing"})
    admin_conn.put_object("orphan", "o", b"1")
    with pytest.raises(ClientException) as e:
        admin_conn.put_object("orphan", "o", b"2")
    assert e.value.http_status == 412
    assert admin_conn.get_object("orphan", "o")[1] == b"1"
    assert admin_conn.get_capabilities()["versioned_writes"]["allowed_flags"] == [
        "x-versions-location",
        "x-history-location",
    ]


def test_bulk_delete_goes_through_versioning(admin_conn):
    """A bulk delete deletes each object as a client's DELETE would: in a
    history container the version is archived, not lost."""
    admin_conn.put_container("bulk-history")
    admin_conn.put_container("bulk-logs", headers={"X-History-Location": "bulk-history"})
    admin_conn.put_object("bulk-logs", "keep me", b"precious")
    url, token = admin_conn.get_auth()
    r = requests.post(
        f"{url}?bulk-delete",
        data="/bulk-logs/keep%20me\n",
        headers={"X-Auth-Token": token, "Accept": "application/json", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["Number Deleted"] == 1, r.text
    listing = admin_conn.get_container("bulk-history")[1]
    assert len(listing) == 2, listing  # the version and the delete marker
    assert admin_conn.get_object("bulk-history", listing[0]["name"])[1] == b"precious"
