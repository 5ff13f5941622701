import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The image and the compose file, read as text: there is no Docker daemon where the tests run, so these check
 * what `docker compose up` would be given, not what it does.
 */
const read = (name: string) =>
  fs.readFileSync(fileURLToPath(new URL(`../../${name}`, import.meta.url)), 'utf8');

/** The lines of each service under `services:` in docker-compose.yml, by name (two-space indentation). */
function composeServices(text: string): Map<string, string[]> {
  const services = new Map<string, string[]>();
  let inServices = false;
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inServices = line.startsWith('services:');
      current = undefined;
      continue;
    }
    const name = inServices ? /^ {2}([\w-]+):\s*$/.exec(line)?.[1] : undefined;
    if (name) {
      current = [];
      services.set(name, current);
    } else current?.push(line);
  }
  return services;
}

/** The `target` of each `source:target` entry of a service's `volumes:` list. */
function mountTargets(lines: string[]): string[] {
  const start = lines.findIndex((line) => /^ {4}volumes:\s*$/.test(line));
  if (start < 0) return [];
  const targets: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const entry = /^ {6}- ["']?[^:"']+:([^:"'\s]+)/.exec(line);
    if (!entry?.[1]) break;
    targets.push(entry[1]);
  }
  return targets;
}

describe('Docker image and compose file', () => {
  it('gives /projects to the workers through the compose volume, and the image declares no VOLUME', () => {
    // A VOLUME in the image would give every container of it an anonymous volume there, the dashboard's too,
    // which never opens a database; the workers get the named `projects` volume from the compose file.
    expect(read('Dockerfile')).not.toMatch(/^\s*VOLUME\b/im);
    const services = composeServices(read('docker-compose.yml'));
    expect([...services.keys()].sort()).toEqual(['dashboard', 'redis', 'worker']);
    expect(mountTargets(services.get('worker') ?? [])).toEqual(['/projects']);
    expect(services.get('worker')?.join('\n')).toMatch(/GAO_MIGRATE_ROOTS: \/projects/);
    expect(mountTargets(services.get('dashboard') ?? [])).toEqual([]);
    expect(read('docker-compose.yml')).toMatch(/^volumes:\n {2}projects:\n/m);
  });
});
