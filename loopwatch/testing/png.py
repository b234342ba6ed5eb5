"""Read a PNG with the standard library only (zlib + chunk parsing), to look at screenshots.

Handles what browsers write: 8-bit RGB or RGBA, not interlaced, any of the five filters.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}  # colour type → bytes per pixel at bit depth 8


@dataclass(frozen=True, slots=True)
class Image:
    width: int
    height: int
    channels: int
    rows: tuple[bytes, ...]
    """Unfiltered scanlines, ``width * channels`` bytes each."""

    def pixels(self) -> Iterator[tuple[int, int, int]]:
        """Every pixel's (r, g, b), row by row (alpha dropped)."""
        step = self.channels
        for row in self.rows:
            yield from zip(row[0::step], row[1::step], row[2::step], strict=True)

    def count_near(self, colour: str, tolerance: int = 24) -> int:
        """Pixels within ``tolerance`` per channel of ``colour`` (``"#rrggbb"``)."""
        want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return sum(
            1
            for px in self.pixels()
            if abs(px[0] - want[0]) <= tolerance
            and abs(px[1] - want[1]) <= tolerance
            and abs(px[2] - want[2]) <= tolerance
        )


def read_png(data: bytes) -> Image:
    """Decode ``data``; ValueError for anything that is not an 8-bit RGB(A) PNG."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    pos, header, idat = len(_SIGNATURE), b"", bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(header) != 13:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
    channels = _CHANNELS[colour_type]
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        rows.append(line)
        previous = line
    return Image(width, height, channels, tuple(rows))


def _unfilter(kind: int, line: bytearray, up: bytes, bpp: int) -> bytes:
    if kind == 0:
        return bytes(line)
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, up, strict=True))
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + up[i]) >> 1)) & 0xFF
        elif kind == 4:
            corner = up[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, up[i], corner)) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter {kind}")
    return bytes(line)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
