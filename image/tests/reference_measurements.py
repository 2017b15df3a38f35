#!/usr/bin/env python3
"""Reference implementation of image/expected-measurements, written separately from the TypeScript (hashlib and
struct only) so the two check each other. It models the same things (image/MEASUREMENTS.md):

  MRTD  = SHA-384 over, per TDVF metadata section (in table order, skipping PAGE.AUG and PERM_MEM sections), per
          4 KiB page: a 128-byte "MEM.PAGE.ADD" block with the GPA, and for MR.EXTEND sections 16 x (a 128-byte
          "MR.EXTEND" block with the chunk GPA + the 256 data bytes).
  RTMRn = SHA-384(RTMRn || digest) per event, from 48 zero bytes.
  RTMR1 = kernel Authenticode SHA-384, "Calling EFI Application from Boot Option", separator (4 zero bytes),
          "Exit Boot Services Invocation", "Exit Boot Services Returned with Success".
  RTMR2 = UTF-16LE(cmdline + " initrd=initrd" + NUL), then the initrd bytes.

usage: reference_measurements.py <fixtures dir> [--cmdline '<full cmdline>']   -> JSON on stdout
       reference_measurements.py <fixtures dir> --record                        -> writes <dir>/../expected.json
"""
import base64
import hashlib
import json
import os
import struct
import sys
import uuid

PAGE = 4096


def sha384(b):
    return hashlib.sha384(b).digest()


def find_tdvf_metadata(fw):
    footer_guid = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
    meta_guid = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le
    footer = len(fw) - 48
    from_end = None
    if fw[footer : footer + 16] == footer_guid:
        (total,) = struct.unpack_from("<H", fw, footer - 2)
        start = footer + 16 - total
        pos = footer - 2
        while pos > start:
            guid = fw[pos - 16 : pos]
            (length,) = struct.unpack_from("<H", fw, pos - 18)
            if guid == meta_guid:
                (from_end,) = struct.unpack_from("<I", fw, pos - length)
            pos -= length
    if from_end is None:
        (from_end,) = struct.unpack_from("<I", fw, len(fw) - 0x20)
    off = len(fw) - from_end
    sig, length, version, count = struct.unpack_from("<IIII", fw, off)
    assert sig == 0x46564454 and version == 1 and length == 16 + 32 * count, "no TDVF metadata"
    return [struct.unpack_from("<IIQQII", fw, off + 16 + 32 * i) for i in range(count)]


def mrtd(fw):
    h = hashlib.sha384()
    for data_off, raw_size, gpa, mem_size, typ, attrs in find_tdvf_metadata(fw):
        if attrs & 2 or typ == 4:
            continue
        mem = bytearray(mem_size)
        if typ not in (2, 3):
            mem[:raw_size] = fw[data_off : data_off + raw_size]
        for page in range(0, mem_size, PAGE):
            h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa + page) + b"\0" * 104)
            if attrs & 1:
                for chunk in range(0, PAGE, 256):
                    h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa + page + chunk) + b"\0" * 104)
                    h.update(bytes(mem[page + chunk : page + chunk + 256]))
    return h.hexdigest()


def authenticode(img):
    pe = struct.unpack_from("<I", img, 0x3C)[0]
    assert img[pe : pe + 4] == b"PE\0\0"
    nsec = struct.unpack_from("<H", img, pe + 6)[0]
    opt_size = struct.unpack_from("<H", img, pe + 20)[0]
    opt = pe + 24
    magic = struct.unpack_from("<H", img, opt)[0]
    plus = magic == 0x20B
    size_headers = struct.unpack_from("<I", img, opt + 60)[0]
    checksum = opt + 64
    nrva = struct.unpack_from("<I", img, opt + (108 if plus else 92))[0]
    cert_dir = opt + (112 if plus else 96) + 32
    cert_size = struct.unpack_from("<I", img, cert_dir + 4)[0] if nrva > 4 else 0
    h = hashlib.sha384()
    if nrva > 4:
        h.update(img[:checksum] + img[checksum + 4 : cert_dir] + img[cert_dir + 8 : size_headers])
    else:
        h.update(img[:checksum] + img[checksum + 4 : size_headers])
    done = size_headers
    secs = []
    for i in range(nsec):
        s = opt + opt_size + 40 * i
        raw_size, raw_ptr = struct.unpack_from("<II", img, s + 16)
        secs.append((raw_ptr, raw_size))
    for ptr, size in sorted(secs):
        if size:
            h.update(img[ptr : ptr + size])
            done += size
    if len(img) - cert_size > done:
        h.update(img[done : len(img) - cert_size])
    return h.hexdigest()


def rtmrs(kernel, initrd, cmdline):
    def ext(reg, digest):
        return sha384(reg + digest)

    r1 = b"\0" * 48
    for d in (
        bytes.fromhex(authenticode(kernel)),
        sha384(b"Calling EFI Application from Boot Option"),
        sha384(b"\0\0\0\0"),
        sha384(b"Exit Boot Services Invocation"),
        sha384(b"Exit Boot Services Returned with Success"),
    ):
        r1 = ext(r1, d)
    r2 = b"\0" * 48
    opts = cmdline + (" initrd=initrd" if initrd is not None else "") + "\0"
    r2 = ext(r2, sha384(opts.encode("utf-16-le")))
    if initrd is not None:
        r2 = ext(r2, sha384(initrd))
    return r1.hex(), r2.hex()


def measure(d, cmdline):
    read = lambda n: open(os.path.join(d, n), "rb").read()
    fw, kernel, initrd = read("OVMF.fd"), read("vmlinuz"), read("initrd")
    r1, r2 = rtmrs(kernel, initrd, cmdline)
    return {"mrtd": mrtd(fw), "rtmr1": r1, "rtmr2": r2, "cmdline": cmdline}


def recorded_cases(d):
    base = open(os.path.join(d, "cmdline"), encoding="utf-8").read().strip()
    config = {"mode": "measure", "node_size": "tiny", "vm_id": "measure-tiny"}
    token = base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()
    return {"base": base, "with-config": base + " easyenclave.config=" + token}


def main(argv):
    d = argv[1]
    if "--record" in argv:
        cases = {name: measure(d, c) for name, c in recorded_cases(d).items()}
        out = os.path.join(os.path.dirname(os.path.abspath(d)), "expected.json")
        with open(out, "w") as f:
            json.dump({"generated_by": "image/tests/reference_measurements.py --record", "cases": cases}, f, indent=2)
            f.write("\n")
        print("wrote", out)
        return
    if "--cmdline" in argv:
        cmdline = argv[argv.index("--cmdline") + 1]
    else:
        cmdline = open(os.path.join(d, "cmdline"), encoding="utf-8").read().strip()
    print(json.dumps(measure(d, cmdline)))


if __name__ == "__main__":
    main(sys.argv)
