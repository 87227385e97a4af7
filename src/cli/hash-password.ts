import { hashPassword } from '../ui/passwords.js';

/**
 * `falconet hash-password`: reads a password from stdin (the first line; typed, or piped) and
 * prints the hash for `ui.users[].passwordHash`. The password is never an argument (shell history).
 */
export async function hashPasswordCommand(): Promise<number> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0] ?? '';
  if (password.length < 8) {
    process.stderr.write('falconet hash-password: the password needs at least 8 characters\n');
    return 2;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
