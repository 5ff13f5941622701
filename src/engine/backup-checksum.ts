import fs from 'node:fs';
import path from 'node:path';
import { backupNameOf } from './backup-name.js';
import { ErrorCode, MigrationError } from './errors.js';
import { kindOf } from './file-kind.js';

/*
 * The `<backup>.sha256` beside each backup: its SHA-256 as `sha256sum` writes it (`<64 hex>  <file name>\n`), so that
 * `sha256sum -c documents.backup_<ts>.db.sha256` run in the backup's folder checks it, and `restore` refuses a
 * backup whose bytes changed since it was taken. SQLite's own checks cannot tell: a few bytes changed inside a
 * record leave a page it reads without complaint.
 */

/** The name of the checksum beside `backupPath`. */
export function checksumPathOf(backupPath: string): string {
  return `${backupPath}.sha256`;
}

/** Whether `filePath` is named as the checksum of a file named as gao-migrate names its backups. */
export function isBackupChecksumName(filePath: string): boolean {
  return filePath.endsWith('.sha256') && backupNameOf(filePath.slice(0, -'.sha256'.length)) !== null;
}

/**
 * The line `sha256sum` writes for a file: a name holding a backslash, a newline or a carriage return is escaped
 * and the line starts with a backslash, as GNU coreutils (9.x) does, so that `sha256sum -c` reads it back.
 */
export function checksumLine(sha256: string, fileName: string): string {
  if (!/[\\\n\r]/.test(fileName)) return `${sha256}  ${fileName}\n`;
  const escaped = fileName.replace(/[\\\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\r'));
  return `\\${sha256}  ${escaped}\n`;
}

/** The longest checksum file read: a line with a file name of 4,096 bytes, escaped, fits with room to spare. */
const MAX_CHECKSUM_BYTES = 16 * 1024;

/** A hash on a line, as `sha256sum` writes it (text or binary mode, escaped name or not), and nothing else. */
const CHECKSUM_LINE = /^\\?([0-9a-fA-F]{64})(?: [ *][^\n]*)?\n?$/;

export type ChecksumBeside =
  | { status: 'absent' }
  | { status: 'found'; path: string; sha256: string }
  /**
   * There, but holding no hash that can be trusted to be the one written: empty or cut short by a crash, not a
   * regular file (a directory, a link to nothing), or not ours.
   */
  | { status: 'unusable'; path: string; reason: string };

/**
 * Reads the checksum beside `backupPath`. Only a regular file is read (a pipe there would block the read, a
 * device never end), and only its first `MAX_CHECKSUM_BYTES`. The file name on the line is not compared: a backup
 * renamed together with its checksum keeps its hash. An unusable one's `reason` says what it is, and what may have
 * made it so where that is known: it ends the sentence `The checksum <path> beside the backup <reason>`.
 */
export function readChecksumBeside(backupPath: string): ChecksumBeside {
  const checksumPath = checksumPathOf(backupPath);
  let stat: fs.Stats | undefined;
  let link: fs.Stats | undefined;
  try {
    link = fs.lstatSync(checksumPath, { throwIfNoEntry: false });
    stat = link?.isSymbolicLink() ? fs.statSync(checksumPath, { throwIfNoEntry: false }) : link;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The backup's name leaves no room for `.sha256`: no checksum can be there.
    if (code === 'ENAMETOOLONG') return { status: 'absent' };
    return unusable(checksumPath, `cannot be read (${code})`);
  }
  if (!link) return { status: 'absent' };
  const through = link.isSymbolicLink() ? 'is a symbolic link to ' : 'is ';
  if (!stat) return unusable(checksumPath, 'is a symbolic link that leads to nothing');
  if (!stat.isFile()) return unusable(checksumPath, `${through}${kindOf(stat)}, not a checksum file`);
  if (stat.size === 0) {
    return unusable(checksumPath, 'is empty (as a crash before its data reached the disk leaves it)');
  }
  if (stat.size > MAX_CHECKSUM_BYTES) {
    return unusable(checksumPath, 'is larger than one checksum line can be, so it is not a checksum file');
  }
  let text: string;
  try {
    text = fs.readFileSync(checksumPath, 'latin1');
  } catch (error) {
    return unusable(checksumPath, `cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  const hash = CHECKSUM_LINE.exec(text)?.[1];
  if (!hash) {
    return unusable(
      checksumPath,
      'does not hold one line "<64 hex digits>  <file name>" (a crash may cut it short, or it is another file)',
    );
  }
  return { status: 'found', path: checksumPath, sha256: hash.toLowerCase() };
}

function unusable(checksumPath: string, reason: string): ChecksumBeside {
  return { status: 'unusable', path: checksumPath, reason };
}

/** The refusal of a backup whose bytes are not those its checksum was written for. */
export function checksumMismatch(backupPath: string, checksumPath: string, expected: string, actual: string) {
  return new MigrationError(
    ErrorCode.BACKUP_INVALID,
    `The backup ${backupPath} is not the file that was written when it was taken: its SHA-256 is ${actual}, not the ${expected} that ${path.basename(checksumPath)} beside it records, so its bytes changed since; nothing was changed (if they were changed on purpose, remove ${checksumPath} and restore again).`,
  );
}
