#!/usr/bin/env python3
"""esp_image_gen.py — synthetic Espressif images for tests/cli/esp_image.sh.

Writes, in esptool's layout (header, extended header, segments, XOR-0xEF
checksum at the end of a 16-byte block, SHA-256; the partition table with its
MD5 entry), a merged factory image, an app image or a bootloader image for a
chip (ESP8266 images: the ROM's V1 bootloader and the RTOS SDK's app).

  esp_image_gen.py factory CHIP_ID BOOT_OFFSET FLASH_KIB OUT
  esp_image_gen.py app CHIP_ID OUT
  esp_image_gen.py boot CHIP_ID OUT
CHIP_ID -1 is the ESP8266."""
import hashlib
import struct
import sys


def segment(addr, data):
    return struct.pack("<II", addr, len(data)) + data


def pattern(addr, n):
    return bytes((addr + i * 7 + (i >> 8)) & 0xFF for i in range(n))


def image(chip, app, size_freq):
    v1 = chip == -1 and not app
    head = struct.pack("<BBBBI", 0xE9, 2, 3 if chip == -1 else 2, size_freq,
                       0x40100004 if chip == -1 else 0x40080400)
    if not v1:
        ext = bytearray(16)
        ext[0] = 0xEE
        if chip != -1:
            struct.pack_into("<HBHH", ext, 4, chip, 0, 0, 399)
            ext[15] = 1
        head += bytes(ext)
    if app:
        desc = bytearray(256)
        struct.pack_into("<I", desc, 0, 0xABCD5432)
        desc[16:24] = b"1.18.300"
        desc[48:57] = b"OpenBeken"
        desc[112:118] = b"v5.3.2"
        drom = {0: 0x3F400020, 2: 0x3F000020, -1: 0x40100000}.get(chip, 0x3C000020)
        segs = [(drom, bytes(desc)), (0x3FFE8000 if chip == -1 else 0x40080000, pattern(0x40080000, 1000))]
    else:
        segs = [(0x40100000 if chip == -1 else 0x3FFF0030, pattern(0x3FFF0030, 300)),
                (0x3FFE8000 if chip == -1 else 0x40078000, pattern(0x40078000, 600))]
    body = b"".join(segment(a, d) for a, d in segs)
    s = 0xEF
    for _, d in segs:
        for b in d:
            s ^= b
    out = head + body
    out += b"\0" * (15 - len(out) % 16) + bytes([s])
    if not v1 and chip != -1:
        out += hashlib.sha256(out).digest()
    return out


def ptable(flash_kib):
    slot = ((flash_kib * 1024 - 0x10000) // 2) & ~0xFFFF
    parts = [(1, 2, 0x9000, 0x4000, b"nvs"), (1, 0, 0xD000, 0x2000, b"otadata"),
             (1, 1, 0xF000, 0x1000, b"phy_init"), (0, 0x10, 0x10000, slot, b"ota_0"),
             (0, 0x11, 0x10000 + slot, slot, b"ota_1")]
    t = b"".join(struct.pack("<BBBBII16sI", 0xAA, 0x50, ty, st, off, size, label, 0)
                 for ty, st, off, size, label in parts)
    t += b"\xEB\xEB" + b"\xFF" * 14 + hashlib.md5(t).digest()
    return t + b"\xFF" * (0xC00 - len(t))


def size_freq(chip, kib):
    if chip == -1:
        return 0x20 if kib == 1024 else 0x30
    return {2048: 0x10, 4096: 0x20}.get(kib, 0x20)


def main():
    what, chip = sys.argv[1], int(sys.argv[2])
    if what == "factory":
        boot_off, kib, out = int(sys.argv[3], 0), int(sys.argv[4]), sys.argv[5]
        f = bytearray(b"\xFF" * 0x10000)
        b = image(chip, False, size_freq(chip, kib))
        f[boot_off:boot_off + len(b)] = b
        f[0x8000:0x8000 + 0xC00] = ptable(kib)
        data = bytes(f) + image(chip, True, size_freq(chip, kib))
    else:
        out = sys.argv[3]
        data = image(chip, what == "app", size_freq(chip, 4096))
    with open(out, "wb") as fh:
        fh.write(data)


main()
