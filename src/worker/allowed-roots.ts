import fs from 'node:fs';
import path from 'node:path';
import { whyNotThere } from '../engine/file-kind.js';

/**
 * Allowed roots, from `GAO_MIGRATE_ROOTS` (separated by `path.delimiter`: `:`, or `;` on Windows).
 * Default: the current directory. Each root is resolved to its real path (symlinks followed) once, at start.
 */
export function rootsFromEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const listed = (env.GAO_MIGRATE_ROOTS ?? '')
    .split(path.delimiter)
    .map((entry) => entry.trim())
    .filter(Boolean);
  return resolveRoots(listed.length > 0 ? listed : [cwd], cwd);
}

/**
 * Real paths of the roots; a root that does not exist, or is not a directory, is an error: a typo (or a database
 * given as its own root) would refuse every job, since only what lies under a root is allowed.
 */
export function resolveRoots(roots: readonly string[], cwd = process.cwd()): string[] {
  if (roots.length === 0) throw new TypeError('At least one allowed root is required.');
  return roots.map((root) => {
    let real: string;
    try {
      real = fs.realpathSync(path.resolve(cwd, root));
    } catch {
      throw new TypeError(`Allowed root ${root} does not exist or cannot be read.`);
    }
    if (!fs.statSync(real).isDirectory()) {
      throw new TypeError(
        `Allowed root ${root} is not a directory: a root is a directory whose databases (under it, at any depth) may be migrated; give the directory that holds it.`,
      );
    }
    return real;
  });
}

/** A database path the worker refuses to open: outside the roots, or missing. Never retried. */
export class RefusedPathError extends Error {
  constructor(
    message: string,
    /** `PATH_NOT_ALLOWED` outside the roots, `DB_NOT_FOUND` when the path does not resolve. */
    readonly code: 'PATH_NOT_ALLOWED' | 'DB_NOT_FOUND' = 'PATH_NOT_ALLOWED',
  ) {
    super(message);
    this.name = 'RefusedPathError';
  }
}

/**
 * The real path of `dbPath` (relative paths against `cwd`), when it lies under one of `roots`; otherwise throws
 * `RefusedPathError`. Only metadata is read (realpath): the file itself is never opened here.
 */
export function resolveAllowedPath(dbPath: string, roots: readonly string[], cwd = process.cwd()): string {
  const requested = path.resolve(cwd, dbPath);
  let real: string;
  try {
    real = fs.realpathSync(requested);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RefusedPathError(
      code === 'ENOENT'
        ? `Database ${requested} does not exist${dangling(requested)}.`
        : `Database ${requested} cannot be resolved (${code ?? 'error'}).`,
      'DB_NOT_FOUND',
    );
  }
  if (!roots.some((root) => isInside(real, root))) {
    const shown = real === requested ? requested : `${requested} (really ${real})`;
    throw new RefusedPathError(
      `Database ${shown} is outside the allowed roots (${roots.join(path.delimiter)}); add a directory above it to the worker's roots (--roots or GAO_MIGRATE_ROOTS) to allow it.`,
    );
  }
  return real;
}

function isInside(candidate: string, root: string): boolean {
  // File systems on Windows compare names without case.
  const fold = (value: string) => (process.platform === 'win32' ? value.toLowerCase() : value);
  const relative = path.relative(fold(root), fold(candidate));
  // `..archive/x.db` is inside: only a whole `..` segment climbs out. An absolute result is another drive.
  const climbsOut = relative === '..' || relative.startsWith(`..${path.sep}`);
  return relative !== '' && !climbsOut && !path.isAbsolute(relative);
}

/** `: <where it leads>` for a symbolic link to nothing (see `whyNotThere`), else nothing. */
function dangling(requested: string): string {
  const why = whyNotThere(requested);
  return why ? `: ${why}` : '';
}
