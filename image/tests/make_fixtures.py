#!/usr/bin/env python3
"""Writes the tiny synthetic inputs of the measurement tests into image/tests/fixtures/ (deterministic):

- OVMF.fd: 16 KiB "firmware" whose last bytes hold a real OVMF GUIDed table (footer GUID 96b582de-…, 32 bytes
  before the end) with the TDX metadata-offset entry (e47a6535-…) pointing at a TDVF metadata table (signature
  "TDVF", version 1) of three sections: a 2-page BFV with MR.EXTEND at GPA 0xFFFFC000 (file data), a 1-page TD_HOB
  and a 1-page TEMP_MEM (zero pages, no MR.EXTEND).
- vmlinuz: a minimal PE32+ image (MZ + PE header + optional header with 16 data directories + two sections) and
  a few trailing bytes after the last section, so every Authenticode rule is exercised.
- initrd: a newc cpio archive holding one file and the TRAILER!!!.
- cmdline: a one-line base kernel cmdline like image/build.sh writes.
Run it only to regenerate; then re-record expected.json with reference_measurements.py --record.
"""
import os
import struct
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def guid_bytes(s):
    return uuid.UUID(s).bytes_le


def firmware():
    size = 16 * 1024
    fw = bytearray(size)
    # Section data: two pages of a recognisable pattern at file offset 0.
    for i in range(8192):
        fw[i] = (i * 7 + 3) & 0xFF
    meta_off = 0x2000
    sections = [
        # DataOffset, RawDataSize, MemoryAddress, MemoryDataSize, Type, Attributes
        (0, 8192, 0xFFFFC000, 8192, 0, 1),  # BFV, MR.EXTEND
        (0, 0, 0x00800000, 4096, 2, 0),  # TD_HOB
        (0, 0, 0x00801000, 4096, 3, 0),  # TEMP_MEM
    ]
    meta = struct.pack("<IIII", 0x46564454, 16 + 32 * len(sections), 1, len(sections))
    for s in sections:
        meta += struct.pack("<IIQQII", *s)
    fw[meta_off : meta_off + len(meta)] = meta
    # OVMF GUIDed table: [entry data u32][u16 len][GUID] [u16 table len][footer GUID] then 32 bytes.
    entry = struct.pack("<I", size - meta_off) + struct.pack("<H", 4 + 2 + 16) + guid_bytes(
        "e47a6535-984a-4798-865e-4685a7bf8ec2"
    )
    table_len = len(entry) + 2 + 16
    table = entry + struct.pack("<H", table_len) + guid_bytes("96b582de-1fb2-45f7-baea-a366c55a082d")
    end = size - 32
    fw[end - len(table) : end] = table
    return bytes(fw)


def pe():
    img = bytearray(0x600 + 7)
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3C, 0x80)
    pe_off = 0x80
    img[pe_off : pe_off + 4] = b"PE\0\0"
    opt_size = 112 + 16 * 8
    # COFF: machine x86-64, 2 sections, timestamp 0, no symbols, optional header size, characteristics.
    struct.pack_into("<HHIIIHH", img, pe_off + 4, 0x8664, 2, 0, 0, 0, opt_size, 0x0206)
    opt = pe_off + 24
    struct.pack_into("<H", img, opt, 0x20B)
    struct.pack_into("<I", img, opt + 16, 0x1000)  # entry point
    struct.pack_into("<I", img, opt + 56, 0x3000)  # SizeOfImage
    struct.pack_into("<I", img, opt + 60, 0x200)  # SizeOfHeaders
    struct.pack_into("<I", img, opt + 64, 0xDEADBEEF)  # CheckSum (excluded from the hash)
    struct.pack_into("<H", img, opt + 68, 10)  # subsystem EFI application
    struct.pack_into("<I", img, opt + 108, 16)  # NumberOfRvaAndSizes
    # Data directory 4 (certificate table) left zero: unsigned, as a distro bzImage usually is.
    table = opt + opt_size
    # Sections deliberately listed out of file order: .data (at 0x400) before .text (at 0x200).
    struct.pack_into("<8sIIIIIIHHI", img, table, b".data", 0x200, 0x2000, 0x200, 0x400, 0, 0, 0, 0, 0xC0000040)
    struct.pack_into("<8sIIIIIIHHI", img, table + 40, b".text", 0x200, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    for i in range(0x200, 0x600):
        img[i] = (i * 13) & 0xFF
    img[0x600:] = b"TRAILER"  # bytes after the last section are hashed too
    return bytes(img)


def cpio():
    def entry(name, data, mode):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(
            "%08x" % v for v in (1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0)
        )
        out = hdr.encode() + name_b
        out += b"\0" * ((4 - len(out) % 4) % 4)
        out += data
        out += b"\0" * ((4 - len(out) % 4) % 4)
        return out

    return entry("init", b"#!/bin/sh\necho hello\n", 0o100755) + entry("TRAILER!!!", b"", 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "OVMF.fd": firmware(),
        "vmlinuz": pe(),
        "initrd": cpio(),
        "cmdline": b"roothash=" + b"ab" * 32 + b" systemd.verity_root_data=/dev/vda1 "
        b"systemd.verity_root_hash=/dev/vda2 fsck.mode=skip console=tty0 console=ttyS0,115200\n",
    }
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("wrote", name, len(data), "bytes")


if __name__ == "__main__":
    main()
