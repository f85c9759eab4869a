'use strict';
// The example with the official MongoDB driver (examples/mongodb), run as a user runs it:
// against PHICRYPT_TEST_MONGODB_URI's server when tests/run.sh started one, else without a server.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const EX = path.join(__dirname, '..', 'examples', 'mongodb');

test('test_node__mongodb_driver_example', (t) => {
  if (!fs.existsSync(path.join(EX, 'node_modules', 'mongodb'))) {
    t.skip('the example\'s dependencies are not installed (npm ci in examples/mongodb)');
    return;
  }
  const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'phicrypt-ex-'));
  const r = spawnSync(process.execPath, [path.join(EX, 'example.js'), path.join(keys, 'k')],
                      { env: { ...process.env, PHICRYPT_NODE: path.join(__dirname, '..') }, encoding: 'utf8', timeout: 120000 });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /found and decrypted: .*"ssn":"123-45-6789"/);
  if (process.env.PHICRYPT_TEST_MONGODB_URI) assert.match(r.stdout, /stored ssn is BinData subtype 6/);
  else assert.match(r.stdout, /no server: the insert would carry .*"subType":"06"/);
  assert.ok(!/insert would carry .*123-45-6789/.test(r.stdout), 'the SSN is not sent in clear');
});
