import { crc32 } from 'node:zlib';
import type { RawAlert } from './decode.js';

/**
 * The spool's on-disk record: a 12-byte header (magic, payload length, CRC-32 of the payload, all
 * big-endian u32) and the payload, the JSON of one group-committed write. The magic lets a reader
 * find the next record after a damaged one; the checksum tells a torn or damaged record from an
 * intact one, so garbage is skipped and never replayed.
 */
export interface SpoolRecord {
  /** Epoch ms when the collector accepted the first request of this write. */
  receivedAt: number;
  alerts: RawAlert[];
}

const MAGIC = 0x464e5350; // "FNSP"
export const HEADER_BYTES = 12;
const MAGIC_BYTES = Buffer.from([0x46, 0x4e, 0x53, 0x50]);

export function encodeRecord(record: SpoolRecord): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(payload.length, 4);
  out.writeUInt32BE(crc32(payload), 8);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export interface DecodedRecord {
  record: SpoolRecord;
  /** Byte offset just past this record: where a reader resumes. */
  end: number;
}

export interface DecodedSegment {
  records: DecodedRecord[];
  /** Bytes that were not an intact record (a torn tail, a damaged record): skipped. */
  skippedBytes: number;
}

/** Reads every intact record of `buf` from `offset` on; damaged stretches are skipped, never returned. */
export function decodeRecords(buf: Buffer, offset = 0): DecodedSegment {
  const records: DecodedRecord[] = [];
  let skippedBytes = 0;
  let pos = offset;
  while (pos < buf.length) {
    const record = recordAt(buf, pos);
    if (record) {
      records.push(record);
      pos = record.end;
      continue;
    }
    // Not an intact record here: resume at the next magic that starts one, or give up the rest.
    let next = buf.indexOf(MAGIC_BYTES, pos + 1);
    while (next !== -1 && !recordAt(buf, next)) next = buf.indexOf(MAGIC_BYTES, next + 1);
    const resume = next === -1 ? buf.length : next;
    skippedBytes += resume - pos;
    pos = resume;
  }
  return { records, skippedBytes };
}

function recordAt(buf: Buffer, pos: number): DecodedRecord | undefined {
  if (buf.length - pos < HEADER_BYTES || buf.readUInt32BE(pos) !== MAGIC) return undefined;
  const length = buf.readUInt32BE(pos + 4);
  const end = pos + HEADER_BYTES + length;
  if (end > buf.length) return undefined; // torn: the write stopped inside this record
  const payload = buf.subarray(pos + HEADER_BYTES, end);
  if (crc32(payload) !== buf.readUInt32BE(pos + 8)) return undefined;
  try {
    const record = JSON.parse(payload.toString('utf8')) as SpoolRecord;
    if (typeof record.receivedAt !== 'number' || !Array.isArray(record.alerts)) return undefined;
    return { record, end };
  } catch {
    return undefined;
  }
}
