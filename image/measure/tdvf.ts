/**
 * MRTD from the TDVF firmware file alone (TDX Virtual Firmware Design Guide §11, "TDVF metadata"; Intel TDX
 * module ABI: TDH.MEM.PAGE.ADD / TDH.MR.EXTEND). The VMM adds the firmware's sections to the TD before it runs:
 * every 4 KiB page of a section with TDH.MEM.PAGE.ADD, and, for sections whose attributes carry MR.EXTEND,
 * each 256-byte chunk of that page with TDH.MR.EXTEND right after it. The TDX module keeps one running SHA-384
 * over those operations and finalises it into MRTD (TDH.MR.FINALIZE):
 *   PAGE.ADD → update(128 bytes: "MEM.PAGE.ADD" ‖ 0-pad to 16 ‖ GPA (u64 LE) ‖ 0-pad to 128)
 *   EXTEND   → update(128 bytes: "MR.EXTEND" ‖ 0-pad to 16 ‖ GPA (u64 LE) ‖ 0-pad to 128) then update(256 data bytes)
 * Sections are processed in metadata order (QEMU `tdx_finalize_vm` → KVM_TDX_INIT_MEM_REGION). Sections that the
 * guest accepts itself (attribute PAGE.AUG, or type PERM_MEM) are not added, so not measured. TD_HOB and
 * TEMP_MEM pages are added as zero pages (no file data) and are never MR.EXTENDed by OVMF's metadata.
 *
 * Locating the metadata (QEMU hw/i386/tdvf.c): the OVMF GUIDed table that ends 32 bytes before the end of the
 * file (footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d, u16 table length before it; entries walk backwards,
 * each `data ‖ u16 length ‖ GUID`) holds the entry e47a6535-984a-4798-865e-4685a7bf8ec2 whose u32 data is the
 * metadata's distance from the end of the file; old TDVF builds keep that u32 at `size - 0x20` instead.
 */
import { createHash } from 'node:crypto';

export const PAGE = 4096;
export const TDVF_SIGNATURE = 0x46564454; // "TDVF" little-endian
export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
export const TDX_METADATA_OFFSET_GUID = 'e47a6535-984a-4798-865e-4685a7bf8ec2';

export const SectionType = {
  BFV: 0,
  CFV: 1,
  TD_HOB: 2,
  TEMP_MEM: 3,
  PERM_MEM: 4,
  PAYLOAD: 5,
  PAYLOAD_PARAM: 6,
} as const;
export const ATTR_MR_EXTEND = 0x1;
export const ATTR_PAGE_AUG = 0x2;

export interface TdvfSection {
  dataOffset: number;
  rawDataSize: number;
  memoryAddress: bigint;
  memoryDataSize: bigint;
  type: number;
  attributes: number;
}

export class FirmwareError extends Error {
  override readonly name = 'FirmwareError';
}

/** GUID in its string form from the 16 mixed-endian bytes of an EFI_GUID. */
export function guidToString(b: Buffer): string {
  const h = (x: Buffer) => x.toString('hex');
  const le = (x: Buffer) => h(Buffer.from(x).reverse());
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${h(b.subarray(8, 10))}-${h(b.subarray(10, 16))}`;
}

/** The OVMF GUIDed table: GUID → entry data. Empty when the file has no table. */
export function ovmfTable(fw: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const footer = fw.length - 32 - 16;
  if (footer < 2 || guidToString(fw.subarray(footer, footer + 16)) !== OVMF_TABLE_FOOTER_GUID) return out;
  const total = fw.readUInt16LE(footer - 2);
  const start = footer + 16 - total; // the table, including its own u16 length and footer GUID
  if (start < 0) throw new FirmwareError('OVMF GUIDed table length runs past the start of the file');
  let end = footer - 2; // entries end here, walking backwards
  while (end > start) {
    if (end - 18 < start) throw new FirmwareError('truncated OVMF GUIDed table entry');
    const guid = guidToString(fw.subarray(end - 16, end));
    const len = fw.readUInt16LE(end - 18);
    if (len < 18 || end - len < start) throw new FirmwareError(`bad OVMF GUIDed table entry length ${len}`);
    out.set(guid, fw.subarray(end - len, end - 18));
    end -= len;
  }
  return out;
}

/** The TDVF metadata sections of a firmware image, in table order. */
export function parseTdvfMetadata(fw: Buffer): TdvfSection[] {
  const entry = ovmfTable(fw).get(TDX_METADATA_OFFSET_GUID);
  const fromEnd =
    entry && entry.length >= 4 ? entry.readUInt32LE(0) : fw.length >= 0x20 ? fw.readUInt32LE(fw.length - 0x20) : 0;
  const off = fw.length - fromEnd;
  if (fromEnd === 0 || off < 0 || off + 16 > fw.length || fw.readUInt32LE(off) !== TDVF_SIGNATURE) {
    throw new FirmwareError('not a TDVF image: no TDVF metadata (signature "TDVF") found');
  }
  const length = fw.readUInt32LE(off + 4);
  const version = fw.readUInt32LE(off + 8);
  const n = fw.readUInt32LE(off + 12);
  if (version !== 1) throw new FirmwareError(`unsupported TDVF metadata version ${version}`);
  if (length !== 16 + 32 * n || off + length > fw.length) throw new FirmwareError('TDVF metadata length mismatch');
  const sections: TdvfSection[] = [];
  for (let i = 0; i < n; i++) {
    const p = off + 16 + 32 * i;
    const s: TdvfSection = {
      dataOffset: fw.readUInt32LE(p),
      rawDataSize: fw.readUInt32LE(p + 4),
      memoryAddress: fw.readBigUInt64LE(p + 8),
      memoryDataSize: fw.readBigUInt64LE(p + 16),
      type: fw.readUInt32LE(p + 24),
      attributes: fw.readUInt32LE(p + 28),
    };
    if (s.memoryAddress % BigInt(PAGE) !== 0n || s.memoryDataSize % BigInt(PAGE) !== 0n) {
      throw new FirmwareError(`TDVF section ${i} is not page aligned`);
    }
    if (BigInt(s.rawDataSize) > s.memoryDataSize || s.dataOffset + s.rawDataSize > fw.length) {
      throw new FirmwareError(`TDVF section ${i} data lies outside the file or its memory`);
    }
    sections.push(s);
  }
  return sections;
}

function opBlock(name: string, gpa: bigint): Buffer {
  const b = Buffer.alloc(128);
  b.write(name, 0, 'ascii');
  b.writeBigUInt64LE(gpa, 16);
  return b;
}

/** MRTD (hex) of a TD built from this firmware. */
export function computeMrtd(fw: Buffer): string {
  const h = createHash('sha384');
  for (const s of parseTdvfMetadata(fw)) {
    if (s.attributes & ATTR_PAGE_AUG || s.type === SectionType.PERM_MEM) continue;
    // The section's memory image: file data at its start, zeros after (and all zeros for TD_HOB / TEMP_MEM).
    const mem = Buffer.alloc(Number(s.memoryDataSize));
    if (s.type !== SectionType.TD_HOB && s.type !== SectionType.TEMP_MEM) {
      fw.copy(mem, 0, s.dataOffset, s.dataOffset + s.rawDataSize);
    }
    for (let page = 0; page < mem.length; page += PAGE) {
      const gpa = s.memoryAddress + BigInt(page);
      h.update(opBlock('MEM.PAGE.ADD', gpa));
      if (s.attributes & ATTR_MR_EXTEND) {
        for (let c = 0; c < PAGE; c += 256) {
          h.update(opBlock('MR.EXTEND', gpa + BigInt(c)));
          h.update(mem.subarray(page + c, page + c + 256));
        }
      }
    }
  }
  return h.digest('hex');
}
