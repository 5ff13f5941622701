// Preloaded with `node --import` by loaded-packages.ts: appends the name of every package the process loads,
// through `import` (a module hook, run on its own thread) or `require`, one per line to $GAO_TRACE_FILE.
import fs from 'node:fs';
import Module, { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const traceFile = process.env.GAO_TRACE_FILE;
const PACKAGE = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/;

export async function load(url, context, nextLoad) {
  const name = PACKAGE.exec(decodeURIComponent(url))?.[1];
  if (name) fs.appendFileSync(traceFile, `${name.replace('\\', '/')}\n`);
  return nextLoad(url, context);
}

if (traceFile && !process.env.GAO_TRACE_HOOKS) {
  process.env.GAO_TRACE_HOOKS = '1'; // the hooks thread imports this file too: register once
  register(import.meta.url);
  traceRequire();
} else if (traceFile && !isMainThread) {
  // A worker thread of the process (the engine's, `up` and `verify` run it there): its requires count too.
  traceRequire();
}

function traceRequire() {
  const originalLoad = Module._load;
  Module._load = function tracedLoad(request, parent, isMain) {
    const filename = Module._resolveFilename(request, parent, isMain);
    const name = PACKAGE.exec(filename)?.[1];
    if (name) fs.appendFileSync(traceFile, `${name.replace('\\', '/')}\n`);
    return originalLoad.call(this, request, parent, isMain);
  };
}
