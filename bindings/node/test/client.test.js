'use strict';
// node --test: the binding against the libphicrypt under test (PHICRYPT_BUILD_DIR's).
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const phicrypt = require('..');

function keySet() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'phicrypt-node-'));
  phicrypt.createLocalKeyFile(path.join(d, 'master.key'));
  fs.writeFileSync(path.join(d, 'keyvault.jsonl'), '');
  fs.writeFileSync(path.join(d, 'keyring.jsonl'), '');
  const cfg = { kms_providers: { local: { key_file: 'master.key' } }, key_vault: 'file:keyvault.jsonl',
                keyring: 'file:keyring.jsonl' };
  fs.writeFileSync(path.join(d, 'phicrypt.json'), JSON.stringify(cfg));
  return d;
}

test('test_node__encrypt_decrypt_round_trip', async () => {
  const d = keySet();
  const c = await phicrypt.Client.open(path.join(d, 'phicrypt.json'));
  try {
    const id = await c.createDataKey('local', { keyAltName: 'patients' });
    assert.strictEqual(id.length, 16);
    for (const v of ['123-45-6789', 42, { a: [1, 'x'] }, true]) {
      const ct = await c.encrypt(v, { keyAltName: 'patients', algorithm: 'random' });
      assert.ok(Buffer.isBuffer(ct) && ct[0] === 2, 'random ciphertext (subtype 6, algorithm byte 2)');
      assert.deepStrictEqual(await c.decrypt(ct), v);
    }
    const a = await c.encrypt('x', { keyId: id, algorithm: 'deterministic' });
    const b = await c.encrypt('x', { keyAltName: 'patients', algorithm: 'deterministic' });
    assert.ok(a.equals(b) && a[0] === 1);
  } finally { c.close(); }
});

test('test_node__algorithm_is_required', async () => {
  const c = await phicrypt.Client.open(path.join(keySet(), 'phicrypt.json'));
  try {
    await assert.rejects(c.encrypt('x', { keyAltName: 'patients' }), TypeError);
    await assert.rejects(c.decrypt('hello'), /ciphertext must be a Buffer/);
  } finally { c.close(); }
});

test('test_node__error_class_per_code', async () => {
  const c = await phicrypt.Client.open(path.join(keySet(), 'phicrypt.json'));
  try {
    await assert.rejects(c.encrypt('x', { keyAltName: 'nobody', algorithm: 'random' }), (e) =>
      e instanceof phicrypt.KeyNotFound && e instanceof phicrypt.PhicryptError && e.code === -4 && !/\bx\b/.test(e.message));
    await assert.rejects(c.decrypt(Buffer.from('not a ciphertext')), (e) => e instanceof phicrypt.PhicryptError);
  } finally { c.close(); }
  await assert.rejects(phicrypt.Client.open({ kms_providers: {} , nonsense: 1 }), (e) => e instanceof phicrypt.PhicryptError);
  await assert.rejects(c.encrypt('x', { keyAltName: 'k', algorithm: 'random' }), /closed/);
});

test('test_node__tokens_and_pseudonyms', async () => {
  const c = await phicrypt.Client.open(path.join(keySet(), 'phicrypt.json'));
  try {
    await c.createTokenKey('tok:ssn', 'ff1');
    await c.createTokenKey('ps:patient', 'hmac');
    const t = await c.tokenize('tok:ssn', '123-45-6789', { format: 'ssn' });
    assert.match(t, /^\d{3}-\d{2}-\d{4}$/);
    assert.notStrictEqual(t, '123-45-6789');
    assert.strictEqual(await c.detokenize('tok:ssn', t, { format: 'ssn' }), '123-45-6789');
    const p = await c.pseudonymize('ps:patient', 'MRN-1', { context: 'patient' });
    assert.match(p, /^ps1\./);
    await assert.rejects(c.tokenize('tok:ssn', 123456789), /value must be a string/);
  } finally { c.close(); }
});

test('test_node__work_runs_off_the_event_loop', async () => {
  // Many encryptions in flight at once: the loop keeps ticking while the pool works.
  const c = await phicrypt.Client.open(path.join(keySet(), 'phicrypt.json'));
  try {
    await c.createDataKey('local', { keyAltName: 'k' });
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 0);
    const cts = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      c.encrypt(`v${i}`, { keyAltName: 'k', algorithm: 'random' })));
    clearInterval(timer);
    assert.strictEqual(cts.length, 200);
    assert.ok(ticks > 0, 'the event loop ran while the work was in flight');
    assert.strictEqual(await c.decrypt(cts[123]), 'v123');
  } finally { c.close(); }
});

test('test_node__version', () => {
  assert.strictEqual(phicrypt.version(), require('../package.json').version);
});

test('test_node__automatic_encryption_of_commands_and_documents', async () => {
  const d = keySet();
  const c0 = await phicrypt.Client.open(path.join(d, 'phicrypt.json'));
  const id = await c0.createDataKey('local', { keyAltName: 'patients' });
  c0.close();
  const cfg = JSON.parse(fs.readFileSync(path.join(d, 'phicrypt.json'), 'utf8'));
  cfg.kms_providers.local.key_file = path.join(d, 'master.key');
  cfg.key_vault = 'file:' + path.join(d, 'keyvault.jsonl');
  cfg.keyring = 'file:' + path.join(d, 'keyring.jsonl');
  cfg.schema_map = { 'hospital.patients': { bsonType: 'object',
    encryptMetadata: { keyId: [{ $binary: { base64: id.toString('base64'), subType: '04' } }] },
    properties: { ssn: { encrypt: { bsonType: 'string', algorithm: 'AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic' } } } } };
  const c = await phicrypt.Client.open(cfg);
  try {
    const cmd = await c.encryptCommand('hospital', { insert: 'patients', documents: [{ name: 'Ada', ssn: '123-45-6789' }] });
    const enc = cmd.documents[0];
    assert.strictEqual(enc.name, 'Ada');
    assert.strictEqual(enc.ssn.$binary.subType, '06');
    assert.ok(!JSON.stringify(cmd).includes('123-45-6789'));
    const doc = await c.encryptDocument('hospital.patients', { _id: 1, ssn: '123-45-6789' });
    assert.deepStrictEqual(doc.ssn, enc.ssn);  // deterministic: the same ciphertext
    assert.deepStrictEqual(await c.decryptDocument(doc), { _id: 1, ssn: '123-45-6789' });
    await assert.rejects(c.encryptCommand('hospital', 42), TypeError);
    await assert.rejects(c.decryptDocument('{"a": oops}'), (e) => e instanceof phicrypt.BadData);
  } finally { c.close(); }
});

test('test_node__deidentify_and_reidentify_a_file', async () => {
  const d = keySet();
  const c = await phicrypt.Client.open(path.join(d, 'phicrypt.json'));
  try {
    await c.createTokenKey('tok:ssn', 'siv');
    const src = path.join(d, 'in.jsonl');
    fs.writeFileSync(src, '{"name": "Ada", "ssn": "123-45-6789", "age": 36}\n{"name": "Bo", "ssn": "987-65-4321", "age": 41}\n');
    const policy = { version: 1, unknown_fields: 'keep', fields: { name: { action: 'redact' },
                                                                  ssn: { action: 'tokenize', key: 'tok:ssn' } } };
    const rep = await c.deidentifyFile(policy, src, path.join(d, 'deid.jsonl'), { threads: 2 });
    assert.strictEqual(rep.records_out, 2);
    const out = fs.readFileSync(path.join(d, 'deid.jsonl'), 'utf8');
    assert.ok(!out.includes('123-45-6789') && !out.includes('Ada'));
    await c.reidentifyFile(policy, path.join(d, 'deid.jsonl'), path.join(d, 'reid.jsonl'));
    const back = fs.readFileSync(path.join(d, 'reid.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepStrictEqual(back.map((r) => r.ssn), ['123-45-6789', '987-65-4321']);
    await assert.rejects(c.deidentifyFile(policy, path.join(d, 'missing.jsonl'), path.join(d, 'x.jsonl')),
                         (e) => e instanceof phicrypt.PhicryptError);
    assert.ok(!fs.existsSync(path.join(d, 'x.jsonl')), 'nothing partial is written');
    await assert.rejects(c.deidentifyFile(policy, src, path.join(d, 'y.jsonl'), { threads: 'two' }), TypeError);
  } finally { c.close(); }
});

test('test_node__session_decrypt_is_checked', async () => {
  const d = keySet();
  const c0 = await phicrypt.Client.open(path.join(d, 'phicrypt.json'));
  const kssn = await c0.createDataKey('local', { keyAltName: 'k_ssn' });
  const kdx = await c0.createDataKey('local', { keyAltName: 'k_dx' });
  c0.close();
  const enc = (k, alg) => ({ encrypt: { keyId: [{ $binary: { base64: k.toString('base64'), subType: '04' } }],
    bsonType: 'string', algorithm: `AEAD_AES_256_CBC_HMAC_SHA_512-${alg}` } });
  const cfg = { kms_providers: { local: { key_file: path.join(d, 'master.key') } },
    key_vault: 'file:' + path.join(d, 'keyvault.jsonl'), keyring: 'file:' + path.join(d, 'keyring.jsonl'),
    schema_map: { 'hospital.patients': { bsonType: 'object',
      properties: { ssn: enc(kssn, 'Deterministic'), diagnosis: enc(kdx, 'Random') } } },
    access: { roles: { billing: { purposes: ['PAYMENT'], fields: ['ssn'] } } } };
  const c = await phicrypt.Client.open(cfg);
  try {
    const doc = await c.encryptDocument('hospital.patients', { ssn: '123-45-6789', diagnosis: 'flu' });
    await assert.rejects(c.decryptDocument(doc), (e) => e instanceof phicrypt.AccessDenied);
    const seen = await c.decryptDocumentAs({ actor: 'clerk', role: 'billing', purpose: 'PAYMENT' }, 'hospital.patients', doc);
    assert.strictEqual(seen.ssn, '123-45-6789');
    assert.notStrictEqual(seen.diagnosis, 'flu');  // not the role's field: withheld
    await assert.rejects(c.decryptDocumentAs({ actor: 'clerk', role: 'billing', purpose: 'TREATMENT' }, 'hospital.patients', doc),
                         (e) => e instanceof phicrypt.AccessDenied);
    await assert.rejects(c.decryptDocumentAs({ actor: 'clerk', role: 'billing' }, null, doc), TypeError);
  } finally { c.close(); }
});

test('test_node__unclosed_clients_are_freed_without_a_crash_at_exit', () => {
  // Clients dropped without close() and collected (some with a call in flight), a double
  // close, a call after close, then exit: a clean exit every time. (Wrapped native objects
  // crashed Node.js 20 at exit, in its finalizer queue, in 3 to 8 of 10 runs of this file
  // with MALLOC_PERTURB_ set; handles are now numbers closed by a FinalizationRegistry.)
  const { spawnSync } = require('node:child_process');
  const d = keySet();
  const script = `
    const phicrypt = require(${JSON.stringify(path.join(__dirname, '..'))});
    (async () => {
      for (let i = 0; i < 30; i++) {
        const c = await phicrypt.Client.open(${JSON.stringify(path.join(d, 'phicrypt.json'))});
        if (i % 3 === 0) c.createTokenKey('tok:' + i, 'hmac').catch(() => {});
      }
      for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
      const last = await phicrypt.Client.open(${JSON.stringify(path.join(d, 'phicrypt.json'))});
      last.close();
      last.close();
      await last.encrypt('x', { keyAltName: 'k', algorithm: 'random' }).then(() => process.exit(3), () => {});
    })().catch((e) => { console.error(e); process.exit(2); });`;
  for (const perturb of ['87', '165', '211']) {
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script],
                        { env: { ...process.env, MALLOC_PERTURB_: perturb }, encoding: 'utf8' });
    assert.strictEqual(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
    assert.strictEqual(r.status, 0, r.stderr);
  }
});
