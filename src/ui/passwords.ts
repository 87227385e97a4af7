import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// scrypt N=2^15, r=8, p=1: about 50 ms and 32 MiB per login check, which also slows guessing.
const N = 32768;
const R = 8;
const P = 1;
const KEYLEN = 32;
const FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** `scrypt$N$r$p$salt$hash` (base64): what `falconet hash-password` prints for ui.users[].passwordHash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 256 * N * R });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function isPasswordHash(value: string): boolean {
  return FORMAT.test(value);
}

/** Constant-time comparison; false for a malformed hash rather than an error. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const m = FORMAT.exec(hash);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, 'base64');
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64'), expected.length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
