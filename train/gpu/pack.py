"""Pack a class-folder dataset into one file for a machine that only receives a small upload.

FER2013's 32,298 JPEGs take 59.7 MB, and every one begins with the same 328-byte header
(JFIF, quantization and Huffman tables). The pack stores that header once and each file's
remaining bytes (49.1 MB in all), with a compressed index; ``unpack`` rebuilds the tree byte for byte
and checks a SHA-256 over every file. Standard library only, so it runs anywhere.

    python -m train.gpu.pack pack --data ../shared/data/fer2013 --out .gpu/fer2013.pack
    python -m train.gpu.pack unpack .gpu/fer2013.pack /tmp/fer2013
"""
from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

MAGIC = b"FERPACK1"
SOS = b"\xff\xda"  # JPEG start-of-scan marker: everything before its segment's end is header


def jpeg_header(data: bytes) -> bytes:
    """The bytes up to the end of the start-of-scan segment."""
    at = data.find(SOS)
    if at < 0:
        raise ValueError("not a baseline JPEG (no start-of-scan marker)")
    return data[:at + 2 + int.from_bytes(data[at + 2:at + 4], "big")]


def pack(data_dir: Path, out: Path) -> dict:
    files = sorted(p for p in Path(data_dir).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no JPEG files under {data_dir}")
    headers: dict[bytes, int] = {}
    index, bodies, digest = [], [], hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(data)
        header = jpeg_header(data)
        index.append([path.relative_to(data_dir).as_posix(), headers.setdefault(header, len(headers)),
                      len(data) - len(header)])
        bodies.append(data[len(header):])
    meta = json.dumps({"headers": [h.hex() for h in headers], "files": index,
                       "sha256": digest.hexdigest()}).encode()
    meta = zlib.compress(meta, 9)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(meta)) + meta)
        for body in bodies:
            f.write(body)
    return {"files": len(files), "headers": len(headers), "bytes": out.stat().st_size}


def unpack(pack_file: Path, out: Path) -> dict:
    with Path(pack_file).open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise SystemExit(f"{pack_file} is not a dataset pack")
        (size,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(zlib.decompress(f.read(size)))
        headers = [bytes.fromhex(h) for h in meta["headers"]]
        digest = hashlib.sha256()
        for rel, header, length in meta["files"]:
            data = headers[header] + f.read(length)
            digest.update(data)
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if digest.hexdigest() != meta["sha256"]:
        raise SystemExit("unpacked files do not match the pack's checksum")
    return {"files": len(meta["files"]), "sha256": meta["sha256"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.gpu.pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("pack", help="write one pack file from a class-folder tree of JPEGs")
    p.add_argument("--data", type=Path, required=True, help="dataset root (holding train/ and validation/)")
    p.add_argument("--out", type=Path, required=True, help="pack file to write")
    p = steps.add_parser("unpack", help="rebuild the tree from a pack file and verify it")
    p.add_argument("pack_file", type=Path, help="pack file written by 'pack'")
    p.add_argument("out", type=Path, help="folder to rebuild the dataset in")
    args = parser.parse_args(argv)
    result = pack(args.data, args.out) if args.step == "pack" else unpack(args.pack_file, args.out)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
