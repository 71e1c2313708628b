"""Pack a class-folder dataset into one file for a machine that only receives a small upload.

FER2013's 32,298 JPEGs take 59.7 MB, and every one begins with the same 328-byte header
(JFIF, quantization and Huffman tables). The pack stores that header once, a compressed index,
and one LZMA stream of each file's remaining bytes (49.1 MB) and of the other files whole
(ferplus.csv, 1.7 MB; the README): 46.0 MB in all, since the device's upload limit of 64 MiB
also carries the checkout (16.8 MB). ``unpack`` rebuilds the tree byte for byte and checks a
SHA-256 over every file.
Standard library only, so it runs anywhere.

    python -m train.gpu.pack pack --data ../shared/data/fer2013 --out .gpu/fer2013.pack
    python -m train.gpu.pack unpack .gpu/fer2013.pack /tmp/fer2013
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import struct
import sys
import zlib
from pathlib import Path

MAGIC = b"FERPACK3"  # 1 held the JPEGs only, uncompressed
WHOLE = -1  # in the index: a file that is not a JPEG, stored whole
JPEG_SUFFIXES = (".jpg", ".jpeg")
SOS = b"\xff\xda"  # JPEG start-of-scan marker: everything before its segment's end is header


def jpeg_header(data: bytes) -> bytes:
    """The bytes up to the end of the start-of-scan segment."""
    at = data.find(SOS)
    if at < 0:
        raise ValueError("not a baseline JPEG (no start-of-scan marker)")
    return data[:at + 2 + int.from_bytes(data[at + 2:at + 4], "big")]


def pack(data_dir: Path, out: Path) -> dict:
    files = sorted(p for p in Path(data_dir).rglob("*") if p.is_file())
    if not any(p.suffix.lower() in JPEG_SUFFIXES for p in files):
        raise SystemExit(f"no JPEG files under {data_dir}")
    headers: dict[bytes, int] = {}
    index, bodies, digest = [], [], hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(data)
        if path.suffix.lower() in JPEG_SUFFIXES:
            header = jpeg_header(data)
            at, body = headers.setdefault(header, len(headers)), data[len(header):]
        else:
            at, body = WHOLE, data
        index.append([path.relative_to(data_dir).as_posix(), at, len(body)])
        bodies.append(body)
    meta = json.dumps({"headers": [h.hex() for h in headers], "files": index,
                       "sha256": digest.hexdigest()}).encode()
    meta = zlib.compress(meta, 9)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(meta)) + meta)
        f.write(lzma.compress(b"".join(bodies), preset=9 | lzma.PRESET_EXTREME))
    return {"files": len(files), "headers": len(headers), "bytes": out.stat().st_size}


def unpack(pack_file: Path, out: Path) -> dict:
    with Path(pack_file).open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise SystemExit(f"{pack_file} is not a dataset pack")
        (size,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(zlib.decompress(f.read(size)))
        headers = [bytes.fromhex(h) for h in meta["headers"]]
        bodies = lzma.decompress(f.read())
        digest, at = hashlib.sha256(), 0
        for rel, header, length in meta["files"]:
            body, at = bodies[at:at + length], at + length
            data = body if header == WHOLE else headers[header] + body
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
    p.add_argument("--data", type=Path, required=True,
                   help="dataset root (holding train/, validation/ and, for --ferplus, ferplus.csv)")
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
