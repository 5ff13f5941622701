import fs from 'node:fs';
import path from 'node:path';

/**
 * A small glob for `enqueue --glob`: Node 20 has no `fs.glob` (22+), and `path.matchesGlob` is experimental there.
 * Supports `*` (any characters within one path segment), `?` (one character) and `**` (any number of segments,
 * including none). Wildcards also match names that start with a dot, so `**` reaches `.gao-dev` folders.
 * Forward slashes separate segments everywhere; on Windows a backslash does too.
 */
export function globToRegExp(pattern: string): RegExp {
  const segments = splitSegments(pattern);
  let source = '';
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') source += last ? '.*' : '(?:[^/]+/)*';
    else source += segmentSource(segment) + (last ? '' : '/');
  });
  return new RegExp(`^${source}$`, process.platform === 'win32' ? 'i' : '');
}

/**
 * Files (not directories) matching `pattern`, relative to `cwd` unless absolute, as sorted absolute paths.
 * Symbolic links to directories are not followed (no loops); links to files are listed.
 */
export function expandGlob(pattern: string, cwd = process.cwd()): string[] {
  const segments = splitSegments(pattern);
  const firstWild = segments.findIndex(hasWildcard);
  if (firstWild === -1) {
    const single = path.resolve(cwd, pattern);
    return isFile(single) ? [single] : [];
  }
  const baseSegments = segments.slice(0, firstWild);
  const rest = segments.slice(firstWild);
  let base = baseSegments.join('/');
  if (isRooted(pattern)) base = `/${base}`;
  else if (/^[A-Za-z]:$/.test(base)) base += '/';
  const baseDir = path.resolve(cwd, base || '.');
  const matcher = globToRegExp(rest.join('/'));
  const maxDepth = rest.includes('**') ? Number.POSITIVE_INFINITY : rest.length;
  const found: string[] = [];
  walk(baseDir, '', 1, maxDepth, matcher, found);
  return found.sort();
}

function walk(
  dir: string,
  relative: string,
  depth: number,
  maxDepth: number,
  matcher: RegExp,
  out: string[],
) {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // unreadable or vanished: nothing to match there
  }
  for (const entry of entries) {
    const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
    const childPath = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth < maxDepth) walk(childPath, childRelative, depth + 1, maxDepth, matcher, out);
    } else if (
      (entry.isFile() || (entry.isSymbolicLink() && isFile(childPath))) &&
      matcher.test(childRelative)
    ) {
      out.push(childPath);
    }
  }
}

function splitSegments(pattern: string): string[] {
  const normalised = process.platform === 'win32' ? pattern.replaceAll('\\', '/') : pattern;
  return normalised.split('/').filter(Boolean);
}

function isRooted(pattern: string): boolean {
  return pattern.startsWith('/') || (process.platform === 'win32' && pattern.startsWith('\\'));
}

function hasWildcard(segment: string): boolean {
  return /[*?]/.test(segment);
}

function segmentSource(segment: string): string {
  let source = '';
  for (const char of segment) {
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return source;
}

function isFile(candidate: string): boolean {
  try {
    return fs.statSync(candidate).isFile();
  } catch {
    return false;
  }
}
