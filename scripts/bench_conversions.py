"""Times atoll's view conversions and counts the bytes each one writes.

Run by scripts/bench-conversions.sh against a running atoll (release build):

    bench_conversions.py IDENTITY_URL IMAGE_URL VOLUME_URL OBJECT_URL DATA_DIR PID PASSWORD

Every conversion is metadata only, so its time must not grow with the size of
the resource and it must write nothing to the chunk store. For each one this
prints the median wall time of 5 runs (HTTP request to answer, loopback),
the bytes added under DATA_DIR/blocks (chunk store) and the bytes the atoll
process wrote to disk in total (/proc/PID/io write_bytes: the metadata
transaction and its WAL).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import requests

GIB = 1 << 30
MIB = 1 << 20
RUNS = 5


def main() -> None:
    identity, image_url, volume_url, object_url, data_dir, pid, password = sys.argv[1:8]
    data_dir = Path(data_dir)
    s = requests.Session()
    r = s.post(
        f"{identity}/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
        timeout=30,
    )
    r.raise_for_status()
    token = r.headers["X-Subject-Token"]
    project = r.json()["token"]["project"]["id"]
    s.headers["X-Auth-Token"] = token
    vol_base = f"{volume_url}/v3/{project}"
    vh = {"OpenStack-API-Version": "volume 3.66"}
    account = f"AUTH_{project}"

    def chunk_bytes() -> int:
        total = 0
        for p in (data_dir / "blocks").rglob("*"):
            if p.is_file():
                total += p.stat().st_size
        return total

    def proc_written() -> int:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
        return 0

    def ok(resp, *codes):
        if resp.status_code not in codes:
            raise SystemExit(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:400]}")
        return resp

    # --- sources -------------------------------------------------------
    def upload_image(name: str, size: int) -> dict:
        img = ok(s.post(f"{image_url}/v2/images", json={
            "name": name, "disk_format": "raw", "container_format": "bare"}, timeout=60), 201).json()

        def body():
            left = size
            while left:
                n = min(4 * MIB, left)
                yield os.urandom(n)
                left -= n

        ok(s.put(f"{image_url}/v2/images/{img['id']}/file", data=body(),
                 headers={"Content-Type": "application/octet-stream"}, timeout=600), 204)
        return ok(s.get(f"{image_url}/v2/images/{img['id']}", timeout=60), 200).json()

    def wait_volume(vid: str) -> dict:
        for _ in range(600):
            v = ok(s.get(f"{vol_base}/volumes/{vid}", headers=vh, timeout=60), 200).json()["volume"]
            if v["status"] in ("available", "error"):
                return v
            time.sleep(0.05)
        raise SystemExit(f"volume {vid} stuck")

    print("preparing: 1 GiB image of random data (uploaded through Glance)", file=sys.stderr)
    img1 = upload_image("bench-1g", GIB)
    # A 100 GiB image: a 100 GiB volume cloned from the 1 GiB image, then
    # uploaded to an image (both zero-copy).
    v100 = ok(s.post(f"{vol_base}/volumes", headers=vh, json={
        "volume": {"size": 100, "imageRef": img1["id"], "name": "bench-100g-src"}}, timeout=60), 202).json()["volume"]
    wait_volume(v100["id"])
    up = ok(s.post(f"{vol_base}/volumes/{v100['id']}/action", headers=vh, json={
        "os-volume_upload_image": {"image_name": "bench-100g", "disk_format": "raw",
                                   "container_format": "bare"}}, timeout=60), 202).json()
    img100_id = up["os-volume_upload_image"]["image_id"]
    ok(s.put(f"{object_url}/v1/{account}/bench", timeout=60), 201, 202)

    results = []

    def measure(name: str, op, cleanup=None) -> None:
        times, chunks, written = [], [], []
        for i in range(RUNS):
            c0, w0 = chunk_bytes(), proc_written()
            t0 = time.perf_counter()
            out = op(i)
            dt = time.perf_counter() - t0
            time.sleep(0.2)  # let /proc/PID/io catch up with the commit
            chunks.append(chunk_bytes() - c0)
            written.append(proc_written() - w0)
            times.append(dt)
            if cleanup:
                cleanup(out)
        results.append((name, statistics.median(times) * 1000, max(chunks), statistics.median(written)))
        print(f"  {name}: {statistics.median(times) * 1000:.1f} ms", file=sys.stderr)

    def vol_from_image(img_id: str, gib: int):
        def op(i):
            v = ok(s.post(f"{vol_base}/volumes", headers=vh, json={
                "volume": {"size": gib, "imageRef": img_id, "name": f"b{i}"}}, timeout=60), 202).json()["volume"]
            return wait_volume(v["id"])
        return op

    def delete_volume(v):
        ok(s.delete(f"{vol_base}/volumes/{v['id']}", headers=vh, timeout=60), 202)

    print("measuring", file=sys.stderr)
    measure("image (1 GiB) -> volume 1 GiB", vol_from_image(img1["id"], 1), delete_volume)
    measure("image (100 GiB) -> volume 100 GiB", vol_from_image(img100_id, 100), delete_volume)

    src = wait_volume(ok(s.post(f"{vol_base}/volumes", headers=vh, json={
        "volume": {"size": 100, "imageRef": img1["id"], "name": "bench-src"}}, timeout=60), 202).json()["volume"]["id"])

    def snap(i):
        return ok(s.post(f"{vol_base}/snapshots", headers=vh, json={
            "snapshot": {"volume_id": src["id"], "name": f"s{i}"}}, timeout=60), 202).json()["snapshot"]

    snaps = []
    measure("volume (100 GiB) -> snapshot", snap, snaps.append)

    def from_snap(i):
        v = ok(s.post(f"{vol_base}/volumes", headers=vh, json={
            "volume": {"size": 100, "snapshot_id": snaps[0]["id"]}}, timeout=60), 202).json()["volume"]
        return wait_volume(v["id"])

    measure("snapshot (100 GiB) -> volume", from_snap, delete_volume)

    def from_vol(i):
        v = ok(s.post(f"{vol_base}/volumes", headers=vh, json={
            "volume": {"size": 100, "source_volid": src["id"]}}, timeout=60), 202).json()["volume"]
        return wait_volume(v["id"])

    measure("volume (100 GiB) -> volume", from_vol, delete_volume)

    def to_image(i):
        return ok(s.post(f"{vol_base}/volumes/{src['id']}/action", headers=vh, json={
            "os-volume_upload_image": {"image_name": f"u{i}", "disk_format": "raw",
                                       "container_format": "bare"}}, timeout=60), 202).json()

    measure("volume (100 GiB) -> image (upload-to-image)", to_image)

    def export(i):
        return ok(s.post(f"{image_url}/v2/images/{img1['id']}/actions/export",
                         json={"container": "bench", "object": f"o{i}"}, timeout=60), 201).json()

    measure("image (1 GiB) -> Swift object (export)", export)

    def register(i):
        img = ok(s.post(f"{image_url}/v2/images", json={
            "name": f"r{i}", "disk_format": "raw", "container_format": "bare"}, timeout=60), 201).json()
        ok(s.patch(f"{image_url}/v2/images/{img['id']}",
                   headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                   data=json.dumps([{"op": "add", "path": "/locations/-", "value": {
                       "url": f"swift://{account}/bench/o0", "metadata": {}}}]), timeout=60), 200)
        return img

    measure("Swift object (1 GiB) -> image (register)", register)

    print("| conversion | median time (ms) | chunk-store bytes written | process disk bytes written (metadata) |")
    print("|---|---|---|---|")
    for name, ms, chunks, written in results:
        print(f"| {name} | {ms:.1f} | {chunks} | {int(written)} |")


if __name__ == "__main__":
    main()
