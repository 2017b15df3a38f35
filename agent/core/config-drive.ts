/**
 * Reads `config.json` from the root of a config-drive ISO 9660 image (the launcher writes it with
 * `genisoimage -volid EE_CONFIG -joliet -rock config.json`, launcher.md §3.2) straight from the device or image file.
 *
 * Why not `mount`: mounting needs CAP_SYS_ADMIN and a loop/cdrom driver, and leaves a mount behind when the agent is
 * killed in between; reading the few sectors ourselves needs only read access to the device. Names are matched in
 * the Joliet tree when there is one (UCS-2 names), else by the Rock Ridge `NM` entry, else by the plain ISO 9660 name
 * (`CONFIG.JSON;1`, or `CONFIG.JSO;1` in 8.3 form), case-insensitively.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const SECTOR = 2048;
/** A config is a few KB; anything far larger is not ours. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export class ConfigDriveError extends Error {
  override readonly name = 'ConfigDriveError';
}

interface DirRecord {
  extent: number;
  size: number;
  isDir: boolean;
  /** Identifier as stored (Joliet decoded from UCS-2), without the `;1` version. */
  name: string;
  /** Rock Ridge alternate name, when present. */
  rrName: string | null;
}

function parseRecord(buf: Buffer, off: number, joliet: boolean): DirRecord {
  const len = buf[off]!;
  const nameLen = buf[off + 32]!;
  const raw = buf.subarray(off + 33, off + 33 + nameLen);
  let name: string;
  if (joliet) {
    const swapped = Buffer.from(raw.subarray(0, raw.length - (raw.length % 2)));
    swapped.swap16();
    name = swapped.toString('utf16le');
  } else {
    name = raw.toString('latin1');
  }
  name = name.replace(/;\d+$/, '').replace(/\.$/, '');
  let rrName: string | null = null;
  if (!joliet) {
    // System Use area: after the name and a padding byte when the name length is even (SUSP, IEEE P1281).
    let p = off + 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const end = off + len;
    while (p + 4 <= end) {
      const sig = buf.toString('latin1', p, p + 2);
      const entryLen = buf[p + 2]!;
      if (entryLen < 4) break;
      if (sig === 'NM') rrName = (rrName ?? '') + buf.toString('utf8', p + 5, p + entryLen);
      p += entryLen;
    }
  }
  return {
    extent: buf.readUInt32LE(off + 2),
    size: buf.readUInt32LE(off + 10),
    isDir: (buf[off + 25]! & 0x02) !== 0,
    name,
    rrName,
  };
}

/**
 * `config.json` of the ISO image at `path` as text, or null when the image has no such file. Throws
 * ConfigDriveError when `path` is not an ISO 9660 image (or is truncated), and fs errors when it cannot be read.
 */
export function readConfigDrive(path: string, fileName = 'config.json'): string | null {
  const fd = openSync(path, 'r');
  try {
    const readAt = (pos: number, len: number): Buffer => {
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      if (got < len) throw new ConfigDriveError(`${path}: truncated ISO 9660 image (wanted ${len} bytes at ${pos})`);
      return buf;
    };
    const st = fstatSync(fd);
    if (st.isFile() && st.size < 17 * SECTOR) throw new ConfigDriveError(`${path}: too small for an ISO 9660 image`);

    // Volume descriptors from sector 16 until the terminator (type 255).
    let primary: Buffer | null = null;
    let jolietVd: Buffer | null = null;
    for (let sector = 16; sector < 16 + 32; sector++) {
      const vd = readAt(sector * SECTOR, SECTOR);
      if (vd.toString('latin1', 1, 6) !== 'CD001') {
        if (sector === 16) throw new ConfigDriveError(`${path}: not an ISO 9660 image (no CD001 signature)`);
        break;
      }
      const type = vd[0]!;
      if (type === 255) break;
      if (type === 1 && !primary) primary = vd;
      // Supplementary descriptor with a UCS-2 escape sequence (%/@, %/C, %/E) = Joliet.
      if (type === 2 && vd[88] === 0x25 && vd[89] === 0x2f && [0x40, 0x43, 0x45].includes(vd[90]!)) jolietVd = vd;
    }
    const vd = jolietVd ?? primary;
    if (!vd) throw new ConfigDriveError(`${path}: no primary volume descriptor`);
    const joliet = vd === jolietVd;
    const root = parseRecord(vd, 156, joliet);
    if (root.size > 64 * SECTOR) throw new ConfigDriveError(`${path}: root directory too large`);
    const dir = readAt(root.extent * SECTOR, Math.ceil(root.size / SECTOR) * SECTOR);

    const want = fileName.toLowerCase();
    const shortWant = (() => {
      const dot = want.lastIndexOf('.');
      return dot < 0 ? want.slice(0, 8) : `${want.slice(0, Math.min(dot, 8))}.${want.slice(dot + 1, dot + 4)}`;
    })();
    for (let off = 0; off < root.size;) {
      const len = dir[off]!;
      if (len === 0) {
        off = (Math.floor(off / SECTOR) + 1) * SECTOR; // records never cross a sector boundary
        continue;
      }
      const rec = parseRecord(dir, off, joliet);
      off += len;
      const nameLen = dir[off - len + 32]!;
      if (nameLen === 1 && (dir[off - len + 33] === 0 || dir[off - len + 33] === 1)) continue; // "." and ".."
      if (rec.isDir) continue;
      const n = rec.name.toLowerCase();
      const hit = rec.rrName !== null ? rec.rrName.toLowerCase() === want : n === want || n === shortWant;
      if (!hit) continue;
      if (rec.size > MAX_CONFIG_BYTES) throw new ConfigDriveError(`${path}: ${fileName} is ${rec.size} bytes`);
      return readAt(rec.extent * SECTOR, rec.size).toString('utf8');
    }
    return null;
  } finally {
    closeSync(fd);
  }
}
