"""The portal's app icons (web/icons/*.png), drawn without any imaging library: `python scripts/make_icons.py`.

A rounded square in the portal's blue with a white funnel (a lead funnel), at 192 and 512 px, plus a maskable
512 px one (full-bleed background, the mark inside the safe zone). The PNGs are committed; run this again only
to change them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

WEB_ICONS = Path(__file__).resolve().parents[1] / "web" / "icons"
BLUE, WHITE = (30, 58, 138), (255, 255, 255)


def _png(size: int, pixel) -> bytes:
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y, size)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _funnel(u: float, v: float) -> bool:
    """The mark in unit coordinates (0..1): a funnel's bowl and its spout."""
    if 0.22 <= v <= 0.30:
        return 0.18 <= u <= 0.82
    if 0.34 <= v <= 0.58:
        half = 0.32 - (v - 0.34) * 0.8
        return abs(u - 0.5) <= half
    return 0.58 < v <= 0.80 and abs(u - 0.5) <= 0.065


def _icon(maskable: bool):
    def pixel(x: int, y: int, size: int):
        u, v = (x + 0.5) / size, (y + 0.5) / size
        if not maskable:  # rounded corners, transparent outside
            r, cx, cy = 0.18, min(max(u, 0.18), 0.82), min(max(v, 0.18), 0.82)
            if (u - cx) ** 2 + (v - cy) ** 2 > r * r:
                return (0, 0, 0, 0)
        else:  # the mark shrunk into the 80% safe zone
            u, v = 0.5 + (u - 0.5) / 0.8, 0.5 + (v - 0.5) / 0.8
        return (*WHITE, 255) if _funnel(u, v) else (*BLUE, 255)
    return pixel


def main() -> None:
    WEB_ICONS.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)):
        (WEB_ICONS / name).write_bytes(_png(size, _icon(maskable)))
        print(WEB_ICONS / name)


if __name__ == "__main__":
    main()
