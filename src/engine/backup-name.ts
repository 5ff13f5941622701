import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, MigrationError } from './errors.js';
import { isSameFile } from './file-kind.js';

export type BackupKind = 'backup' | 'rollback_backup' | 'pre_restore_backup';

/**
 * `documents.db` + `backup` + 2026-11-24T10:15:00.123Z -> `documents.backup_20261124T101500123Z.db`, beside the database.
 */
export function backupPathFor(dbPath: string, kind: BackupKind, at: Date): string {
  const parsed = path.parse(dbPath);
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return path.join(parsed.dir, `${parsed.name}.${kind}_${stamp}${parsed.ext || '.db'}`);
}

/** The names `backupPathFor` gives: `<stem>.<kind>_<UTC timestamp to the millisecond><ext>`. */
const BACKUP_NAME = /^(.+)\.(backup|rollback_backup|pre_restore_backup)_\d{8}T\d{9}Z(\.[^.]+)$/;

/** What a backup's name tells: its kind and the database it was taken of, beside it. Null for any other name. */
export function backupNameOf(filePath: string): { kind: BackupKind; database: string } | null {
  const match = BACKUP_NAME.exec(path.basename(filePath));
  if (!match) return null;
  return {
    kind: match[2] as BackupKind,
    database: path.join(path.dirname(filePath), `${match[1]}${match[3]}`),
  };
}

/**
 * Why `up` or `down` must not change the file at `dbPath`: it is named as a backup (`BACKUP_NAME`), so changing it
 * in place would leave a file whose name says it holds the database as it was before a change, and whose content
 * no longer does. Such files sit beside the database, where a glob such as `.gao-dev/*.db` catches them. Null for
 * any other name. Reads nothing.
 */
export function backupNameProblem(dbPath: string): MigrationError | null {
  const backup = backupNameOf(dbPath);
  if (!backup) return null;
  return new MigrationError(
    ErrorCode.DB_IS_BACKUP,
    `${dbPath} is a backup gao-migrate made, which a change would leave no longer holding the database as it was: give the database itself (by the backup's name, ${backup.database}), or restore the backup into it first with \`gao-migrate restore --db ${backup.database} --from ${dbPath}\`; nothing was changed.`,
  );
}

/**
 * Why `restore` must not put another file in place of `dbPath`: it is named as a backup, which the restore would
 * replace (the usual cause: `--db` and `--from` given the other way round). Null for any other name. Reads nothing.
 */
export function restoreOverBackupProblem(dbPath: string): MigrationError | null {
  const backup = backupNameOf(dbPath);
  if (!backup) return null;
  return new MigrationError(
    ErrorCode.DB_IS_BACKUP,
    `--db ${dbPath} is a backup gao-migrate made, which a restore would replace: give the database to --db and the backup to --from (to put this backup back, \`gao-migrate restore --db ${backup.database} --from ${dbPath}\`); nothing was changed.`,
  );
}

/**
 * The database a backup's name says it was taken of (`a.backup_<ts>.db`: `a.db` beside it), when that is none of
 * `dbPaths` (the names of the database it is to be restored into); null for a name that is no backup's, or names
 * that database. A backup moved elsewhere (an archive) names a database that is not there: with the database's own
 * file name, it is taken for one of this database; one beside another database of that name, for that one's.
 */
export function otherDatabaseOfBackup(backupPath: string, dbPaths: readonly string[]): string | null {
  const named = backupNameOf(backupPath)?.database;
  if (!named || dbPaths.some((dbPath) => dbPath === named || isSameFile(dbPath, named))) return null;
  const sameFileName = dbPaths.some((dbPath) => path.basename(dbPath) === path.basename(named));
  return !sameFileName || fs.existsSync(named) ? named : null;
}
