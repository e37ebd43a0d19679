// What the ioredis and node-redis scripts share: arguments, checks that exit non-zero with a
// message, and a bound on the whole run. Used only by the scripts beside it.
'use strict';

const fs = require('fs');

const kRunMillis = 60000;  // a whole mode; every client also has its own connect timeout

// The script's name, for messages; set by start().
let name = 'node-client';

function fail(message) {
  console.error(`${name}: ${message}`);
  process.exit(1);
}

function expect(what, got, want) {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a !== b) fail(`${what}: got ${a}, want ${b}`);
}

// Parses `MODE --port N [--password PW] [--ca FILE] [--key NAME]` and runs modes[MODE](args).
// The exit status is 1 unless the mode finished and every check passed: a run whose promises
// never settle cannot end with 0.
function start(scriptName, modes) {
  name = scriptName;
  process.exitCode = 1;
  const argv = process.argv.slice(2);
  const args = {mode: argv[0], port: 0, password: undefined, ca: undefined, key: 'count'};
  for (let i = 1; i + 1 < argv.length; i += 2) {
    const flag = argv[i].replace(/^--/, '');
    if (!(flag in args)) fail(`unknown flag ${argv[i]}`);
    args[flag] = argv[i + 1];
  }
  args.port = Number(args.port);
  if (!(args.mode in modes) || !args.port) {
    fail(`usage: ${name} ${Object.keys(modes).join('|')} --port N [--password PW] [--ca FILE] [--key NAME]`);
  }
  if (args.ca) args.caPem = fs.readFileSync(args.ca);
  setTimeout(() => fail(`${args.mode}: not finished after ${kRunMillis} ms`), kRunMillis).unref();
  modes[args.mode](args).then(() => {
    console.log(`${args.mode}: ok`);
    process.exitCode = 0;
  }, (error) => fail(`${args.mode}: ${error && error.stack || error}`));
}

// Checks that `numbers` are exactly first..first+count-1, each once.
function expectRange(what, numbers, first, count) {
  const sorted = [...numbers].sort((a, b) => a - b);
  const duplicates = sorted.length - new Set(sorted).size;
  for (let i = 0; i < count; ++i) {
    if (sorted.length !== count || sorted[i] !== first + i) {
      fail(`${what}: ${sorted.length} numbers, ${duplicates} duplicated; want exactly ` +
           `${first}..${first + count - 1} (first difference at index ${i}: ${sorted[i]})`);
    }
  }
}

// Fails unless `promise` rejects with an error whose message matches `pattern`.
async function rejects(what, promise, pattern) {
  try {
    await promise;
  } catch (error) {
    if (!pattern.test(String(error && error.message))) fail(`${what}: unexpected error ${error}`);
    return;
  }
  fail(`${what}: no error`);
}

module.exports = {fail, expect, expectRange, rejects, start};
