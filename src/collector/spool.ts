import { mkdir, open, readdir, readFile, rm, rmdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecords, encodeRecord, type DecodedSegment, type SpoolRecord } from './spool-format.js';

export class SpoolFullError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the spool is full (spool.maxBytes = ${maxBytes} bytes)`);
    this.name = 'SpoolFullError';
  }
}

/** A closed segment file: written no more, replayed from `offset`, then deleted. */
export interface SealedSegment {
  name: string;
  offset: number;
}

const SEGMENT = /^seg-(\d{12})\.wal$/;
const CURSOR = 'cursor';
const LOCK = 'lock';

/**
 * The collector's write-ahead log for the times Redis cannot take a write: append-only segment
 * files in one directory, each record fsync'd before append() resolves. New records always go to
 * a fresh segment (never after what an earlier process left, which may end in a torn record);
 * the replayer takes sealed segments oldest first, and a small cursor file says how far it got,
 * so a restart resumes instead of replaying everything again (the cursor is a hint: losing it
 * only repeats records, which the router's dedup drops).
 */
export class Spool {
  private sealed: string[] = [];
  private active?: { name: string; fh: FileHandle; bytes: number };
  private cursor: { segment: string; offset: number } | undefined;
  private sizes = new Map<string, number>();
  private nextSeq = 1;
  private lock: Promise<unknown> = Promise.resolve();
  /** Receipt time of each segment's first record still to replay. */
  private firstAt = new Map<string, number>();

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly segmentBytes: number,
  ) {}

  /** Opens (creating) the spool directory, taking its lock; existing segments are sealed for replay. */
  static async open(dir: string, opts: { maxBytes: number; segmentBytes?: number }): Promise<Spool> {
    const spool = new Spool(dir, opts.maxBytes, opts.segmentBytes ?? 16 * 1024 * 1024);
    await mkdir(dir, { recursive: true });
    await takeLock(join(dir, LOCK));
    const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
    spool.cursor = await readCursor(join(dir, CURSOR));
    for (const name of names) {
      if (spool.cursor && name < spool.cursor.segment) {
        // Fully replayed before a crash that came ahead of its deletion.
        await rm(join(dir, name), { force: true });
        continue;
      }
      spool.sealed.push(name);
      spool.sizes.set(name, (await stat(join(dir, name))).size);
    }
    const last = names.at(-1);
    if (last) spool.nextSeq = Number(SEGMENT.exec(last)![1]) + 1;
    await spool.learnFirstAt();
    return spool;
  }

  /** Bytes on disk not yet replayed (whole segments: a half-replayed one counts until deleted). */
  get bytes(): number {
    let total = 0;
    for (const size of this.sizes.values()) total += size;
    return total;
  }

  get empty(): boolean {
    return this.bytes === 0;
  }

  /** When the oldest record still to replay was received (epoch ms), if any. */
  get oldestReceivedAt(): number | undefined {
    if (this.empty) return undefined;
    const first = this.sealed[0] ?? this.active?.name;
    return first === undefined ? undefined : this.firstAt.get(first);
  }

  /** Room for one more request of `bytes`? */
  hasRoom(bytes: number): boolean {
    return this.bytes + bytes <= this.maxBytes;
  }

  /** Appends one record and fsyncs it; throws SpoolFullError when it would pass maxBytes. */
  append(record: SpoolRecord): Promise<void> {
    return this.exclusive(async () => {
      const buf = encodeRecord(record);
      if (this.bytes + buf.length > this.maxBytes) throw new SpoolFullError(this.maxBytes);
      if (!this.active) await this.openSegment();
      const active = this.active!;
      await active.fh.write(buf, 0, buf.length, null);
      await active.fh.datasync();
      if (active.bytes === 0) this.firstAt.set(active.name, record.receivedAt);
      active.bytes += buf.length;
      this.sizes.set(active.name, active.bytes);
      if (active.bytes >= this.segmentBytes) await this.sealActive();
    });
  }

  /** Seals the segment being written (if it holds anything) and returns every sealed one, oldest first. */
  takeSealed(): Promise<SealedSegment[]> {
    return this.exclusive(async () => {
      if (this.active && this.active.bytes > 0) await this.sealActive();
      return this.sealed.map((name) => ({ name, offset: this.offsetOf(name) }));
    });
  }

  /** The intact records of a sealed segment from its offset (a torn or damaged stretch is skipped). */
  async read(segment: SealedSegment): Promise<DecodedSegment> {
    return decodeRecords(await readFile(join(this.dir, segment.name)), segment.offset);
  }

  /** Records up to `offset` of `segment` are in Redis; `nextReceivedAt` is the next one's receipt time. */
  async replayed(segment: string, offset: number, nextReceivedAt: number | undefined): Promise<void> {
    this.cursor = { segment, offset };
    if (nextReceivedAt !== undefined) this.firstAt.set(segment, nextReceivedAt);
    // Not fsync'd: a lost cursor only makes a restart replay some records again.
    await writeFile(join(this.dir, CURSOR), `${segment} ${offset}\n`);
  }

  /** The whole segment is in Redis: delete it. */
  async finished(segment: string): Promise<void> {
    await rm(join(this.dir, segment), { force: true });
    this.sealed = this.sealed.filter((n) => n !== segment);
    this.sizes.delete(segment);
    this.firstAt.delete(segment);
    await this.learnFirstAt();
  }

  /** Closes the files and releases the lock; an empty spool leaves no files behind. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      await this.active?.fh.close();
      if (this.active && this.active.bytes === 0) {
        await rm(join(this.dir, this.active.name), { force: true });
        this.sizes.delete(this.active.name);
      }
      this.active = undefined;
      if (this.empty) await rm(join(this.dir, CURSOR), { force: true });
      await rm(join(this.dir, LOCK), { force: true });
      if (this.empty) await rmdir(this.dir).catch(() => undefined);
    });
  }

  /** Segments left by an earlier process: their first receipt time is read once, when first needed. */
  private async learnFirstAt(): Promise<void> {
    const first = this.sealed[0];
    if (first === undefined || this.firstAt.has(first)) return;
    const { records } = await this.read({ name: first, offset: this.offsetOf(first) });
    this.firstAt.set(first, records[0]?.record.receivedAt ?? Date.now());
  }

  private offsetOf(name: string): number {
    return this.cursor?.segment === name ? this.cursor.offset : 0;
  }

  private async openSegment(): Promise<void> {
    const name = `seg-${String(this.nextSeq++).padStart(12, '0')}.wal`;
    const fh = await open(join(this.dir, name), 'wx');
    // The new file's directory entry must survive a crash too.
    const dirHandle = await open(this.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
    this.active = { name, fh, bytes: 0 };
    this.sizes.set(name, 0);
  }

  private async sealActive(): Promise<void> {
    const active = this.active!;
    await active.fh.close();
    this.sealed.push(active.name);
    this.active = undefined;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

async function readCursor(path: string): Promise<{ segment: string; offset: number } | undefined> {
  try {
    const [segment, offset] = (await readFile(path, 'utf8')).trim().split(' ');
    if (segment && SEGMENT.test(segment) && Number.isSafeInteger(Number(offset))) return { segment, offset: Number(offset) };
  } catch {
    // no cursor: replay from the start
  }
  return undefined;
}

/** One collector per spool directory: two appending to one file would interleave records. */
async function takeLock(path: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // Exclusive create: of two collectors starting at once, one wins.
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    // A dead holder (kill -9) or our own pid (a container restarted as pid 1 again) is no holder.
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new Error(`spool.dir ${path.replace(/\/lock$/, '')} is in use by process ${holder} (another collector?); give each collector its own spool.dir`);
    }
    await rm(path, { force: true });
  }
  throw new Error(`could not take the spool lock ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
