"""Writes an OCI layout whose index (named "multi") has one busybox image per platform.

Usage: multiarch_base.py OUT PLATFORM=BUSYBOX...  e.g. linux/arm64=/path/to/arm64/busybox
Made here with Python's tarfile and hashlib, not by kiln, so a build's base is independent.
"""
import hashlib
import io
import json
import os
import sys
import tarfile

out = sys.argv[1]
os.makedirs(out + "/blobs/sha256", exist_ok=True)


def put(data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def entry(name, kind, mode, data=b"", link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
    info.mtime = 1700000000
    return info, io.BytesIO(data) if data else None


manifests = []
for spec in sys.argv[2:]:
    platform, path = spec.split("=", 1)
    parts = platform.split("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in (
            entry("bin", tarfile.DIRTYPE, 0o755),
            entry("tmp", tarfile.DIRTYPE, 0o1777),
            entry("bin/busybox", tarfile.REGTYPE, 0o755, open(path, "rb").read()),
            entry("bin/sh", tarfile.SYMTYPE, 0o777, link="busybox"),
        ):
            tar.addfile(info, data)
    layer = put(buf.getvalue(), "application/vnd.oci.image.layer.v1.tar")
    plat = {"architecture": parts[1], "os": parts[0]}
    if len(parts) > 2:
        plat["variant"] = parts[2]
    config = dict(plat)
    config.update({"config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
                   "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
                   "history": [{"created": "2023-11-14T22:13:20Z",
                                "created_by": "multiarch_base.py: busybox"}]})
    cfg = put(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    desc = put(json.dumps(manifest).encode(), manifest["mediaType"])
    desc["platform"] = plat
    manifests.append(desc)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": manifests}
top = put(json.dumps(index).encode(), index["mediaType"])
top["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [top]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')
