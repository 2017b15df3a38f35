/**
 * The Authenticode digest of a PE/COFF image (Microsoft PE Format, "Calculating the PE Image Hash"), which
 * UEFI's LoadImage measures for an EFI application such as a bzImage with an EFI stub: the headers without the
 * CheckSum field and the Certificate Table directory entry, then each section's raw data in file order, then any
 * data after the last section except the attribute certificates.
 */
import { createHash } from 'node:crypto';

export class PeError extends Error {
  override readonly name = 'PeError';
}

export function authenticodeDigest(img: Buffer, algorithm = 'sha384'): string {
  if (img.length < 0x40 || img.readUInt16LE(0) !== 0x5a4d) throw new PeError('not a PE image (no MZ header)');
  const pe = img.readUInt32LE(0x3c);
  if (pe + 24 > img.length || img.readUInt32LE(pe) !== 0x00004550)
    throw new PeError('not a PE image (no PE signature)');
  const sections = img.readUInt16LE(pe + 6);
  const optSize = img.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const magic = img.readUInt16LE(opt);
  if (magic !== 0x10b && magic !== 0x20b) throw new PeError(`unknown optional header magic 0x${magic.toString(16)}`);
  const plus = magic === 0x20b;
  const sizeOfHeaders = img.readUInt32LE(opt + 60);
  const checksum = opt + 64;
  const rvaCount = img.readUInt32LE(opt + (plus ? 108 : 92));
  const dirs = opt + (plus ? 112 : 96);
  const certEntry = dirs + 4 * 8;
  const hasCert = rvaCount > 4;
  const certSize = hasCert ? img.readUInt32LE(certEntry + 4) : 0;
  if (sizeOfHeaders > img.length) throw new PeError('SizeOfHeaders runs past the end of the file');

  const h = createHash(algorithm);
  h.update(img.subarray(0, checksum));
  if (hasCert) {
    h.update(img.subarray(checksum + 4, certEntry));
    h.update(img.subarray(certEntry + 8, sizeOfHeaders));
  } else {
    h.update(img.subarray(checksum + 4, sizeOfHeaders));
  }
  let hashed = sizeOfHeaders;
  const table = opt + optSize;
  const raw: { ptr: number; size: number }[] = [];
  for (let i = 0; i < sections; i++) {
    const s = table + 40 * i;
    raw.push({ size: img.readUInt32LE(s + 16), ptr: img.readUInt32LE(s + 20) });
  }
  raw.sort((a, b) => a.ptr - b.ptr);
  for (const { ptr, size } of raw) {
    if (size === 0) continue;
    if (ptr + size > img.length) throw new PeError('a section runs past the end of the file');
    h.update(img.subarray(ptr, ptr + size));
    hashed += size;
  }
  const tail = img.length - certSize;
  if (tail > hashed) h.update(img.subarray(hashed, tail));
  return h.digest('hex');
}
