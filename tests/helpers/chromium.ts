import fs from 'node:fs';
import path from 'node:path';

const NAMES =
  process.platform === 'win32'
    ? ['chrome.exe', 'msedge.exe']
    : ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const WELL_KNOWN = [
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** Headless, and quiet: no background requests of Chromium's own that would count as leaving the dashboard. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The browser the dashboard tests drive: `GAO_MIGRATE_CHROMIUM`, else a Chromium or Chrome on PATH (Debian's
 * `chromium` on CI), else the usual macOS place. Throws one sentence saying how to get one.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.GAO_MIGRATE_CHROMIUM;
  if (configured) {
    if (fs.existsSync(configured)) return configured;
    throw new Error(`GAO_MIGRATE_CHROMIUM is ${configured}, which does not exist.`);
  }
  const onPath = (env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .flatMap((dir) => NAMES.map((name) => path.join(dir, name)));
  const found = [...onPath, ...WELL_KNOWN].find((candidate) => fs.existsSync(candidate));
  if (found) return found;
  throw new Error(
    'No Chromium for the dashboard browser tests: install one (Debian: apt-get install chromium; .ci/run does) or set GAO_MIGRATE_CHROMIUM to its executable.',
  );
}
