import path from 'node:path';
import { ErrorCode, MigrationError } from './errors.js';

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

/**
 * Why `up` or `down` must not change the file at `dbPath`: it is named as a backup (`BACKUP_NAME`), so changing it
 * in place would leave a file whose name says it holds the database as it was before a change, and whose content
 * no longer does. Such files sit beside the database, where a glob such as `.gao-dev/*.db` catches them. Null for
 * any other name. Reads nothing.
 */
export function backupNameProblem(dbPath: string): MigrationError | null {
  const match = BACKUP_NAME.exec(path.basename(dbPath));
  if (!match) return null;
  const database = path.join(path.dirname(dbPath), `${match[1]}${match[3]}`);
  return new MigrationError(
    ErrorCode.DB_IS_BACKUP,
    `${dbPath} is a backup gao-migrate made, which a change would leave no longer holding the database as it was: give the database itself (by the backup's name, ${database}), or restore the backup into it first with \`gao-migrate restore --db ${database} --from ${dbPath}\`; nothing was changed.`,
  );
}
