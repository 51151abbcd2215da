// Command line: invalid values exit 2 naming the flag; --log-format json; --help.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { e2e } from '../lib/harness.mjs';
import { getFreePort, runBinary } from '../lib/server.mjs';
import { waitUntil } from '../lib/wait.mjs';

const INVALID = [
  ['--ping-interval', 'abc'],
  ['--ping-timeout', '-5'],
  ['--connect-timeout', '10 parsecs'],
  ['--drain-timeout', 'soon'],
  ['--parser', 'xml'],
  ['--port', '99999'],
  ['--admin-port', 'http'],
  ['--max-payload', 'lots'],
  ['--transports', 'carrier-pigeon'],
  ['--log-format', 'yaml'],
  ['--max-rooms', 'many'],
  ['--rate-limit', 'fast'],
  ['--rate-burst', '-1'],
  ['--max-buffer', 'big'],
];

describe('invalid flag values exit 2 and name the flag', () => {
  for (const [flag, value] of INVALID) {
    e2e(`${flag} ${value}`, async () => {
      // Free ports, so that a binary that wrongly accepts the value does not collide with anything; bounded run.
      const args = ['--host', '127.0.0.1'];
      if (flag !== '--port') args.push('--port', String(await getFreePort()));
      if (flag !== '--admin-port') args.push('--admin-port', String(await getFreePort()));
      // A negative value is passed as --flag=-1 so that it cannot be taken for another flag.
      const given = value.startsWith('-') ? [`${flag}=${value}`] : [flag, value];
      const r = await runBinary([...args, ...given], { timeoutMs: 5000 });
      assert.equal(r.timedOut, false, `the server started with ${flag} ${value} instead of refusing it`);
      assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
      assert.ok(r.stderr.includes(flag), `stderr does not name ${flag}: ${r.stderr}`);
    });
  }

  e2e('invalid environment value (PARSER=xml) exits 2', async () => {
    const ports = ['--port', String(await getFreePort()), '--admin-port', String(await getFreePort())];
    const r = await runBinary(['--host', '127.0.0.1', ...ports], {
      env: { PARSER: 'xml' },
      timeoutMs: 5000,
    });
    assert.equal(r.timedOut, false, 'the server started with PARSER=xml');
    assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /parser|PARSER/);
  });

  e2e('an unknown flag exits 2', async () => {
    const r = await runBinary(['--no-such-flag'], { timeoutMs: 5000 });
    assert.equal(r.code, 2, `exit ${r.code} ${r.stderr}`);
  });
});

describe('--help and --log-format', () => {
  e2e('--help lists the flags and exits 0', async () => {
    const r = await runBinary(['--help'], { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['--port', '--path', '--ping-interval', '--jwt-secret', '--api-key', '--admin-port', '--drain-timeout']) {
      assert.ok(r.stdout.includes(f), `--help does not mention ${f}`);
    }
  });

  e2e('--log-format json writes one JSON object per line', async (t, s) => {
    const srv = await s.server({ args: ['--log-format', 'json'], env: { RUST_LOG: 'info' } });
    await s.connect(srv.url);
    await waitUntil(() => (srv.stdout + srv.stderr).trim().length > 0, { what: 'some log output' });
    await srv.stop('SIGTERM', 15000);
    const lines = (srv.stdout + srv.stderr).split('\n').filter((l) => l.trim());
    assert.ok(lines.length >= 1, 'no log lines');
    for (const l of lines) {
      let obj;
      assert.doesNotThrow(() => {
        obj = JSON.parse(l);
      }, `not JSON: ${l}`);
      assert.equal(typeof obj, 'object');
    }
  });
});
