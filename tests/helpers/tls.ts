import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LocalRedisTls } from '../../src/queue/local-redis.js';

/**
 * A throwaway CA and a server certificate it signed for 127.0.0.1 (and `localhost` only with
 * `{ hostNames: ['localhost'] }`), written as PEM files to `dir` with the `openssl` command line: nothing is
 * committed, every test run makes its own. The keys are P-256, quick to make.
 */
export function makeTlsFiles(dir: string, { hostNames = [] as string[] } = {}): LocalRedisTls {
  const file = (name: string) => path.join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=gao-migrate test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl([
    'req',
    ...ecKey,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  const names = ['IP:127.0.0.1', ...hostNames.map((name) => `DNS:${name}`)].join(',');
  fs.writeFileSync(file('server.ext'), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  ]);
  return { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') };
}

function openssl(args: string[]): void {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  if (run.error) throw new Error(`These tests need the openssl command line (${run.error.message}).`);
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.trim()}`);
}
