import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Spool, SpoolFullError } from '../../src/collector/spool.js';
import { decodeRecords, encodeRecord, type SpoolRecord } from '../../src/collector/spool-format.js';

const root = mkdtempSync(join(tmpdir(), 'falconet-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `s${n++}`);

function record(i: number, alerts = 3): SpoolRecord {
  return {
    receivedAt: 1_700_000_000_000 + i,
    alerts: Array.from({ length: alerts }, (_, k) => [`id-${i}-${k}`, JSON.stringify({ rule: 'Terminal shell in container', time: `2025-06-12T08:00:${i}Z`, output: `shell ${i}.${k}` })] as [string, string]),
  };
}

/** Every intact record of every segment, in order, as the replayer would read them. */
async function replayAll(spool: Spool): Promise<{ records: SpoolRecord[]; skippedBytes: number }> {
  const records: SpoolRecord[] = [];
  let skippedBytes = 0;
  for (const seg of await spool.takeSealed()) {
    const decoded = await spool.read(seg);
    records.push(...decoded.records.map((r) => r.record));
    skippedBytes += decoded.skippedBytes;
  }
  return { records, skippedBytes };
}

describe('spool record format', () => {
  it('decodes what it encodes, and skips a damaged record in the middle by resyncing on the next magic', () => {
    const bufs = [0, 1, 2].map((i) => encodeRecord(record(i)));
    const whole = Buffer.concat(bufs);
    expect(decodeRecords(whole).records.map((r) => r.record)).toEqual([record(0), record(1), record(2)]);
    const damaged = Buffer.from(whole);
    damaged[bufs[0]!.length + 20]! ^= 0xff; // a flipped byte inside record 1's payload
    const { records, skippedBytes } = decodeRecords(damaged);
    expect(records.map((r) => r.record)).toEqual([record(0), record(2)]);
    expect(skippedBytes).toBe(bufs[1]!.length);
  });
});

describe('spool', () => {
  it('a torn last record (the process died inside a write) is skipped; the intact records before it replay', async () => {
    const dir = freshDir();
    const first = await Spool.open(dir, { maxBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) await first.append(record(i));
    // A crash: no close(). Then the tail of the last record never reached the disk.
    const [segment] = readdirSync(dir).filter((f) => f.endsWith('.wal'));
    const path = join(dir, segment!);
    const size = readFileSync(path).length;
    truncateSync(path, size - 7);
    // …and a second crash mid-header leaves a few stray bytes after it.
    appendFileSync(path, Buffer.from([0x46, 0x4e, 0x53]));

    const second = await Spool.open(dir, { maxBytes: 1 << 20 });
    expect(second.empty).toBe(false);
    expect(second.oldestReceivedAt).toBe(record(0).receivedAt);
    const { records, skippedBytes } = await replayAll(second);
    expect(records).toEqual([0, 1, 2, 3].map((i) => record(i)));
    expect(skippedBytes).toBe(encodeRecord(record(4)).length - 7 + 3);
    // New records never follow the torn tail: they go to a segment of their own.
    await second.append(record(9));
    expect(readdirSync(dir).filter((f) => f.endsWith('.wal'))).toHaveLength(2);
  });

  it('replays in order across segments, resumes from the cursor after a restart, and leaves nothing once drained', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1 << 20, segmentBytes: 600 });
    for (let i = 0; i < 6; i++) await spool.append(record(i));
    const segments = await spool.takeSealed();
    expect(segments.length).toBeGreaterThan(1);
    const firstSeg = await spool.read(segments[0]!);
    // Replay the first record only, then "crash".
    await spool.replayed(segments[0]!.name, firstSeg.records[0]!.end, firstSeg.records[1]?.record.receivedAt ?? record(1).receivedAt);

    const again = await Spool.open(dir, { maxBytes: 1 << 20, segmentBytes: 600 });
    expect(again.oldestReceivedAt).toBe(record(1).receivedAt);
    const segs = await again.takeSealed();
    const rest: SpoolRecord[] = [];
    for (const seg of segs) {
      rest.push(...(await again.read(seg)).records.map((r) => r.record));
      await again.finished(seg.name);
    }
    expect(rest).toEqual([1, 2, 3, 4, 5].map((i) => record(i)));
    expect(again.empty).toBe(true);
    expect(again.oldestReceivedAt).toBeUndefined();
    await again.close();
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
  });

  it('refuses a record that would pass maxBytes with SpoolFullError, and a second collector on the same dir', async () => {
    const dir = freshDir();
    const size = encodeRecord(record(0)).length;
    const spool = await Spool.open(dir, { maxBytes: size * 2 + 1 });
    await spool.append(record(0));
    await spool.append(record(1));
    await expect(spool.append(record(2))).rejects.toBeInstanceOf(SpoolFullError);
    expect(spool.bytes).toBe(size * 2);
    // The lock names a live process that is not us: refused, naming the directory.
    writeFileSync(join(dir, 'lock'), `${process.ppid}\n`);
    await expect(Spool.open(dir, { maxBytes: 1 << 20 })).rejects.toThrow(/spool.dir .* is in use by process/);
    // A lock left by a process that is gone (kill -9) is taken over.
    writeFileSync(join(dir, 'lock'), `${spawnSync('true').pid}\n`);
    const taken = await Spool.open(dir, { maxBytes: 1 << 20 });
    expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(process.pid));
    expect(taken.bytes).toBe(size * 2);
  });
});
