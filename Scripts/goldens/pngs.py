#!/usr/bin/env python3
"""Label-PNG fixtures for Tests/ImageIOTests: palette PNGs at 1/2/4/8 bits, with and without tRNS,
8-bit greyscale (Cityscapes-style ids), RGB (must be rejected as a label), 16-bit grey (unsupported).
PNGs are assembled by hand with zlib so no imaging library decides anything for us.

Rerun:  python3 Scripts/goldens/pngs.py      (writes Tests/Fixtures/png/*.png and expected.safetensors)
"""
import json, os, struct, zlib
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "png")


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png(width, height, bit_depth, colour_type, rows, palette=None, trns=None):
    raw = b"".join(b"\x00" + r for r in rows)  # filter 0 on every row
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def pack(values, bits):
    """Pack one row of small ints MSB-first at `bits` per pixel."""
    per = 8 // bits
    out = bytearray()
    for i in range(0, len(values), per):
        byte = 0
        for j, v in enumerate(values[i:i + per]):
            byte |= int(v) << (8 - bits * (j + 1))
        out.append(byte)
    return bytes(out)


def voc_palette(n=256):
    pal = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": "U8", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    expected = {}
    # 8-bit palette, VOC-style: classes 0..20 and 255 borders, odd size.
    a = rng.integers(0, 21, size=(17, 23)).astype(np.uint8); a[::5, :] = 255
    open(f"{OUT}/p8_voc.png", "wb").write(png(23, 17, 8, 3, [bytes(r) for r in a], voc_palette()))
    expected["p8_voc"] = a
    # Low bit depths: values as stored (1/2/4 bits), widths not a multiple of the packing.
    for bits, w, h in ((4, 13, 7), (2, 11, 5), (1, 9, 6)):
        v = rng.integers(0, 1 << bits, size=(h, w)).astype(np.uint8)
        pal = voc_palette(1 << bits)
        open(f"{OUT}/p{bits}.png", "wb").write(png(w, h, bits, 3, [pack(r, bits) for r in v], pal))
        expected[f"p{bits}"] = v
    # tRNS on a palette: indices must not be remapped; two entries with the same colour stay distinct.
    v = rng.integers(0, 6, size=(8, 10)).astype(np.uint8)
    pal = voc_palette(6); pal[3 * 5:3 * 6] = pal[3 * 4:3 * 5]
    open(f"{OUT}/p8_trns.png", "wb").write(png(10, 8, 8, 3, [bytes(r) for r in v], pal, trns=[0, 255, 128]))
    expected["p8_trns"] = v
    # 8-bit greyscale ids (Cityscapes labelIds range).
    g = rng.integers(0, 34, size=(9, 12)).astype(np.uint8); g[0, :3] = 255
    open(f"{OUT}/gray8.png", "wb").write(png(12, 9, 8, 0, [bytes(r) for r in g]))
    expected["gray8"] = g
    # RGB colour mask (VOC colours): rejected as labels unless colours are mapped.
    idx = rng.integers(0, 21, size=(5, 7)).astype(np.uint8)
    vp = np.array(voc_palette(), np.uint8).reshape(256, 3)
    rgb = vp[idx]
    open(f"{OUT}/rgb_voc_colours.png", "wb").write(png(7, 5, 8, 2, [bytes(r.reshape(-1)) for r in rgb]))
    expected["rgb_voc_colours"] = idx
    # 16-bit grey: unsupported.
    g16 = rng.integers(0, 65535, size=(4, 4)).astype(">u2")
    open(f"{OUT}/gray16.png", "wb").write(png(4, 4, 16, 0, [r.tobytes() for r in g16]))
    write_safetensors(f"{OUT}/expected.safetensors", expected, {"generated_by": "Scripts/goldens/pngs.py"})


if __name__ == "__main__":
    main()
