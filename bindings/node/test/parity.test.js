'use strict';
// node --test: the calls that mirror the Python binding (data keys, JSON/BSON encryption,
// sessions with access rules and audit, deidentifyJson, keyring management), their argument
// checks, and the native layer's behaviour under misuse and teardown.
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const phicrypt = require('..');

const SSN = '123-45-6789';
const DX = 'J45.909 asthma';

function keySet() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'phicrypt-node-'));
  phicrypt.createLocalKeyFile(path.join(d, 'master.key'));
  fs.writeFileSync(path.join(d, 'keyvault.jsonl'), '');
  fs.writeFileSync(path.join(d, 'keyring.jsonl'), '');
  const cfg = { kms_providers: { local: { key_file: path.join(d, 'master.key') } },
                key_vault: 'file:' + path.join(d, 'keyvault.jsonl'), keyring: 'file:' + path.join(d, 'keyring.jsonl') };
  fs.writeFileSync(path.join(d, 'phicrypt.json'), JSON.stringify(cfg));
  return { d, cfg };
}

// BSON of {v: "<s>"} (a string element), built by hand: no bson module needed.
function bsonString(s) {
  const str = Buffer.from(s + '\0', 'utf8');
  const len = Buffer.alloc(4); len.writeInt32LE(str.length);
  const el = Buffer.concat([Buffer.from([0x02, 0x76, 0x00]), len, str]);
  const total = Buffer.alloc(4); total.writeInt32LE(4 + el.length + 1);
  return Buffer.concat([total, el, Buffer.from([0])]);
}

test('test_node__data_key_management', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  try {
    const id = await c.createDataKey('local', { keyAltNames: ['patients', 'p2'] });
    const other = await c.createDataKey();
    assert.ok(id.equals(await c.keyIdByAltName('p2')));
    const doc = await c.getDataKey(id);
    assert.deepStrictEqual([...doc.keyAltNames].sort(), ['p2', 'patients']);
    assert.strictEqual(Buffer.from(doc._id.$binary.base64, 'base64').toString('hex'), id.toString('hex'));
    assert.deepStrictEqual(await c.getDataKey(null, { keyAltName: 'patients' }), doc);
    assert.strictEqual((await c.listDataKeys()).length, 2);
    await c.addKeyAltName(id, 'p3');
    assert.ok(id.equals(await c.keyIdByAltName('p3')));
    await assert.rejects(c.addKeyAltName(other, 'p3'), (e) => e instanceof phicrypt.PhicryptError);
    await c.removeKeyAltName(id, 'p3');
    await assert.rejects(c.keyIdByAltName('p3'), (e) => e instanceof phicrypt.KeyNotFound);
    const ct = await c.encrypt(SSN, { keyAltName: 'patients', algorithm: 'random' });
    assert.strictEqual(await c.rewrapDataKeys(), 2);
    assert.strictEqual(await c.rewrapDataKeys({ keyAltNames: 'patients' }, { provider: 'local' }), 1);
    assert.strictEqual(await c.decrypt(ct), SSN, 'a rewrap leaves ciphertexts valid');
    await c.deleteDataKey(id);
    await assert.rejects(c.decrypt(ct), (e) => e instanceof phicrypt.PhicryptError && !e.message.includes(SSN));
    assert.strictEqual((await c.listDataKeys()).length, 1);
    // hostile arguments
    await assert.rejects(c.getDataKey(Buffer.alloc(15)), TypeError);
    await assert.rejects(c.getDataKey('0123456789abcdef'), TypeError);
    await assert.rejects(c.getDataKey(id, { keyAltName: 'x' }), TypeError);
    await assert.rejects(c.deleteDataKey(42), TypeError);
    await assert.rejects(c.createDataKey('local', { keyAltNames: 'patients' }), /array of strings/);
    await assert.rejects(c.createDataKey('local', { keyMaterial: Buffer.alloc(12) }), /96-byte/);
    await assert.rejects(c.createDataKey('local', { masterKey: 'k' }), TypeError);
    await assert.rejects(c.rewrapDataKeys('all'), TypeError);
    await assert.rejects(c.addKeyAltName(other, 'a\0b'), /NUL/);
  } finally { c.close(); }
});

test('test_node__json_and_bson_values', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  try {
    const id = await c.createDataKey('local', { keyAltName: 'k' });
    const ej = await c.encryptJson(JSON.stringify(SSN), { keyId: id, algorithm: 'deterministic' });
    assert.strictEqual(JSON.parse(ej).$binary.subType, '06');
    assert.strictEqual(await c.decryptJson(ej), JSON.stringify(SSN));
    await assert.rejects(c.encryptJson(SSN, { keyId: id, algorithm: 'random' }), (e) => e instanceof phicrypt.BadData);
    await assert.rejects(c.encryptJson('"x"', { keyId: id }), /algorithm/);
    await assert.rejects(c.decryptJson(Buffer.from('x')), TypeError);
    await assert.rejects(c.decryptJson(ej, { canonical: 'yes' }), TypeError);
    // BSON {v: value} in, BSON {v: BinData(6)} out, and back
    const cdoc = await c.encryptBson(bsonString(SSN), { keyAltName: 'k', algorithm: 'random' });
    assert.ok(Buffer.isBuffer(cdoc) && !cdoc.includes(Buffer.from(SSN)));
    assert.ok((await c.decryptBson(cdoc)).equals(bsonString(SSN)));
    await assert.rejects(c.encryptBson({ v: SSN }, { keyAltName: 'k', algorithm: 'random' }), TypeError);
    await assert.rejects(c.decryptBson(Buffer.from([1, 2, 3])), (e) => e instanceof phicrypt.PhicryptError);
    // Buffer, bigint and Date values keep their BSON types
    const bin = await c.decrypt(await c.encrypt(Buffer.from([0, 1, 2]), { keyAltName: 'k', algorithm: 'random' }));
    assert.deepStrictEqual(bin, { $binary: { base64: 'AAEC', subType: '00' } });
    const big = await c.encrypt(2n ** 40n, { keyAltName: 'k', algorithm: 'random' });
    assert.strictEqual(await c.decrypt(big), 2 ** 40);
    const when = await c.decrypt(await c.encrypt(new Date(0), { keyAltName: 'k', algorithm: 'random' }));
    assert.deepStrictEqual(when, { $date: '1970-01-01T00:00:00Z' });
    await assert.rejects(c.encrypt({ f() {} }, { keyAltName: 'k', algorithm: 'random' }), TypeError);
    await assert.rejects(c.encrypt('x', { keyId: 'not-a-buffer', algorithm: 'random' }), /keyId/);
    // documents as BSON bytes: BSON in, BSON out
    const plain = bsonString('no ciphertext here');
    const out = await c.decryptDocument(plain);
    assert.ok(Buffer.isBuffer(out) && out.equals(plain));
    const text = await c.decryptDocument('{"a": 1}');
    assert.strictEqual(typeof text, 'string');
    await assert.rejects(c.decryptDocument([1, 2]), TypeError);
  } finally { c.close(); }
});

test('test_node__analyze_command', async () => {
  const { cfg } = keySet();
  const c0 = await phicrypt.Client.open(cfg);
  const id = await c0.createDataKey('local', { keyAltName: 'k' });
  c0.close();
  const c = await phicrypt.Client.open({ ...cfg, schema_map: { 'hospital.patients': { bsonType: 'object', properties: {
    ssn: { encrypt: { keyId: [{ $binary: { base64: id.toString('base64'), subType: '04' } }], bsonType: 'string',
                      algorithm: 'AEAD_AES_256_CBC_HMAC_SHA_512-Random' } } } } } });
  try {
    const ok = await c.analyzeCommand('hospital', { insert: 'patients', documents: [{ ssn: SSN }] });
    assert.strictEqual(ok.ok, true);
    assert.ok(JSON.stringify(ok.fields).includes('ssn'));
    const refused = await c.analyzeCommand('hospital', { find: 'patients', filter: { ssn: SSN } });
    assert.strictEqual(refused.ok, false, 'randomized fields cannot be queried');
    assert.ok(!JSON.stringify(refused).includes(SSN));
    await assert.rejects(c.analyzeCommand(1, {}), TypeError);
  } finally { c.close(); }
});

// Data keys bound to ssn and diagnosis, keyring keys, access rules and an audit log.
async function world() {
  const { d, cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  const kssn = await c.createDataKey('local', { keyAltName: 'k_ssn' });
  const kdx = await c.createDataKey('local', { keyAltName: 'k_dx' });
  for (const k of ['tok:ssn', 'tok:dx']) await c.createTokenKey(k, 'siv');
  c.close();
  const enc = (k, alg) => ({ encrypt: { keyId: [{ $binary: { base64: k.toString('base64'), subType: '04' } }],
    bsonType: 'string', algorithm: `AEAD_AES_256_CBC_HMAC_SHA_512-${alg}` } });
  const log = path.join(d, 'audit.jsonl');
  const full = { ...cfg,
    schema_map: { 'hospital.patients': { bsonType: 'object', properties: { ssn: enc(kssn, 'Deterministic'),
                                                                           diagnosis: enc(kdx, 'Random') } } },
    access: { roles: { billing: { purposes: ['PAYMENT'], fields: ['ssn', 'mrn'], keys: ['tok:ssn'] },
                       physician: { purposes: ['TREATMENT'], fields: ['*'] } } },
    audit: { path: log, subject_field: 'mrn' } };
  return { d, cfg, full, log };
}
const BILLING = { actor: 'clerk-7', role: 'billing', purpose: 'PAYMENT', subject: 'MRN-0042' };
const lastLine = (log) => JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').pop());

test('test_node__session_calls_and_audit', async () => {
  const { d, cfg, full, log } = await world();
  const c = await phicrypt.Client.open(full);
  try {
    const ssn = await c.encrypt(SSN, { keyAltName: 'k_ssn', algorithm: 'deterministic' });
    const dx = await c.encrypt(DX, { keyAltName: 'k_dx', algorithm: 'random' });
    assert.strictEqual(await c.decryptAs(BILLING, 'hospital.patients', 'ssn', ssn), SSN);
    // a diagnosis ciphertext relabelled as "ssn": refused by its key, audited as denied
    await assert.rejects(c.decryptAs(BILLING, 'hospital.patients', 'ssn', dx),
                         (e) => e instanceof phicrypt.AccessDenied && !e.message.includes(DX));
    assert.strictEqual(lastLine(log).outcome, 'denied');
    await assert.rejects(c.decryptAs({ ...BILLING, purpose: 'TREATMENT' }, null, 'ssn', ssn), phicrypt.AccessDenied);
    await assert.rejects(c.decrypt(ssn), phicrypt.AccessDenied, 'plain calls need a session');
    assert.strictEqual(await c.accessAllowed(BILLING, 'hospital.patients', 'ssn'), true);
    assert.strictEqual(await c.accessAllowed(BILLING, 'hospital.patients', 'diagnosis'), false);
    // tokens: the role's own key only
    const tssn = await c.tokenize('tok:ssn', SSN);
    const tdx = await c.tokenize('tok:dx', DX);
    assert.strictEqual(await c.detokenizeAs(BILLING, null, 'ssn', 'tok:ssn', tssn), SSN);
    await assert.rejects(c.detokenizeAs(BILLING, 'hospital.patients', 'ssn', 'tok:dx', tdx), phicrypt.AccessDenied);
    // the audit log: intact, pseudonymous, never the plaintext
    assert.match(await c.auditVerify(), /^intact/);
    const sid = await c.auditSubjectId('MRN-0042');
    assert.ok(sid.startsWith('sub1.') && !sid.includes('0042'));
    const acc = await c.auditDisclosures('MRN-0042');
    assert.strictEqual(acc.subject, sid);
    assert.ok(acc.disclosures.length >= 2);
    const text = fs.readFileSync(log, 'utf8');
    assert.ok(!text.includes(SSN) && !text.includes(DX) && !text.includes('MRN-0042'));
    // hostile sessions and arguments
    await assert.rejects(c.decryptAs({ actor: 'x', role: 'billing' }, null, 'ssn', ssn), /session.purpose/);
    await assert.rejects(c.decryptAs('billing', null, 'ssn', ssn), TypeError);
    await assert.rejects(c.decryptAs({ ...BILLING, actor: '' }, null, 'ssn', ssn), TypeError);
    await assert.rejects(c.decryptAs(BILLING, 7, 'ssn', ssn), TypeError);
    await assert.rejects(c.decryptAs(BILLING, null, 'ssn', SSN), /ciphertext must be a Buffer/);
    await assert.rejects(c.accessAllowed(BILLING, null, null), TypeError);
    await assert.rejects(c.auditDisclosures('MRN-0042', -1), TypeError);
    await assert.rejects(c.auditVerify(42), TypeError);
  } finally { c.close(); }
  // a deleted line breaks the chain
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  lines.splice(1, 1);
  fs.writeFileSync(path.join(d, 'cut.jsonl'), lines.join('\n') + '\n');
  const v = await phicrypt.Client.open(full);
  try {
    await assert.rejects(v.auditVerify(path.join(d, 'cut.jsonl')),
                         (e) => e instanceof phicrypt.AuthenticationError || e instanceof phicrypt.BadData);
  } finally { v.close(); }
  void cfg;
});

test('test_node__reidentify_file_as_a_role', async () => {
  const { d, cfg, full, log } = await world();
  const policy = { version: 1, unknown_fields: 'keep', fields: { ssn: { action: 'tokenize', key: 'tok:ssn' },
                                                                 diagnosis: { action: 'tokenize', key: 'tok:dx' } } };
  const src = path.join(d, 'plain.jsonl');
  fs.writeFileSync(src, JSON.stringify({ ssn: SSN, diagnosis: DX }) + '\n');
  const etl = await phicrypt.Client.open(cfg);
  await etl.deidentifyFile(policy, src, path.join(d, 'deid.jsonl'));
  etl.close();
  const c = await phicrypt.Client.open(full);
  try {
    const out = path.join(d, 'reid.jsonl');
    const rep = await c.reidentifyFileAs(BILLING, null, policy, path.join(d, 'deid.jsonl'), out);
    const rec = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.strictEqual(rec.ssn, SSN);
    assert.notStrictEqual(rec.diagnosis, DX);
    assert.deepStrictEqual(rep.withheld_fields, ['diagnosis']);
    assert.deepStrictEqual(lastLine(log).denied_fields, ['diagnosis']);
    fs.unlinkSync(out);
    await assert.rejects(c.reidentifyFileAs({ ...BILLING, purpose: 'TREATMENT' }, null, policy,
                                            path.join(d, 'deid.jsonl'), out), phicrypt.AccessDenied);
    assert.ok(!fs.existsSync(out), 'nothing is written when access is denied');
    await assert.rejects(c.reidentifyFile(policy, path.join(d, 'deid.jsonl'), out), phicrypt.AccessDenied);
    await assert.rejects(c.reidentifyFileAs(BILLING, null, policy, src, out, { skipBad: 1 }), TypeError);
    await assert.rejects(c.reidentifyFileAs(BILLING, null, path.join(d, 'missing-policy.json'), src, out),
                         (e) => e instanceof phicrypt.FileIOError && e.message.includes('missing-policy.json'));
  } finally { c.close(); }
});

test('test_node__deidentify_json', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  try {
    await c.createTokenKey('tok:ssn', 'siv');
    const policy = { version: 1, unknown_fields: 'keep', fields: { name: { action: 'redact' },
                                                                  ssn: { action: 'tokenize', key: 'tok:ssn' } } };
    const obj = await c.deidentifyJson(policy, { name: 'Ada Lovelace', ssn: SSN, age: 36 });
    assert.strictEqual(obj.age, 36);
    assert.ok(!JSON.stringify(obj).includes(SSN) && !JSON.stringify(obj).includes('Ada'));
    const text = await c.deidentifyJson(JSON.stringify(policy), JSON.stringify({ name: 'Ada Lovelace', ssn: SSN }));
    assert.strictEqual(typeof text, 'string');
    assert.deepStrictEqual(JSON.parse(text).ssn, obj.ssn, 'deterministic: the same token');
    await assert.rejects(c.deidentifyJson(policy, 42), TypeError);
    await assert.rejects(c.deidentifyJson(42, {}), TypeError);
    await assert.rejects(c.deidentifyJson({ version: 1, fields: { a: { action: 'explode' } } }, {}),
                         (e) => e instanceof phicrypt.PhicryptError);
    await assert.rejects(c.deidentifyJson(policy, '{"ssn": '), (e) => e instanceof phicrypt.PhicryptError && !e.message.includes(SSN));
  } finally { c.close(); }
});

test('test_node__deidentify_file_progress', async () => {
  const { d, cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  try {
    const src = path.join(d, 'in.jsonl');
    fs.writeFileSync(src, Array.from({ length: 500 }, (_, i) => JSON.stringify({ name: `P${i}`, age: i % 100 })).join('\n') + '\n');
    const policy = { version: 1, unknown_fields: 'keep', fields: { name: { action: 'redact' } } };
    const seen = [];
    let settled = false;
    const p = c.deidentifyFile(policy, src, path.join(d, 'out.jsonl'), { threads: 2, progress: (r, done, total) => {
      assert.ok(!settled, 'every progress call comes before the promise settles');
      seen.push([r, done, total]);
      if (seen.length === 1) throw new Error('ignored');  // a throwing callback does not stop the work
    } });
    const rep = await p;
    settled = true;
    assert.strictEqual(rep.records_out, 500);
    assert.ok(seen.length >= 1, 'progress was called');
    for (const [r, done, total] of seen) assert.ok(Number.isInteger(r) && Number.isInteger(done) && Number.isInteger(total));
    const n = seen.length;
    await new Promise((r) => setImmediate(r));
    assert.strictEqual(seen.length, n, 'no progress call after the promise settled');
    // failures settle through the same path
    await assert.rejects(c.deidentifyFile(policy, path.join(d, 'missing.jsonl'), path.join(d, 'x.jsonl'), { progress() {} }),
                         (e) => e instanceof phicrypt.PhicryptError);
    await assert.rejects(c.deidentifyFile(policy, src, path.join(d, 'y.jsonl'), { progress: 'yes' }), /progress must be a function/);
  } finally { c.close(); }
});

test('test_node__token_key_management', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  try {
    await c.createTokenKey('tok:phone', 'ff1');
    await c.createTokenKey('ps:mrn', 'hmac');
    const t1 = await c.tokenize('tok:phone', '5551234567', { format: 'digits', context: 'phone' });
    assert.strictEqual(await c.rotateTokenKey('tok:phone'), 2);
    const t2 = await c.tokenize('tok:phone', '5551234567', { format: 'digits', context: 'phone' });
    assert.notStrictEqual(t1, t2, 'the new primary version makes new tokens');
    assert.strictEqual(await c.detokenize('tok:phone', t1, { format: 'digits', context: 'phone', keyVersion: 1 }), '5551234567');
    const keys = await c.listTokenKeys();
    assert.deepStrictEqual(keys.map((k) => k.name).sort(), ['ps:mrn', 'tok:phone']);
    assert.ok(!JSON.stringify(keys).includes('material'), 'no key material is listed');
    await c.retireTokenKey('tok:phone', 1);
    assert.strictEqual(await c.detokenize('tok:phone', t1, { format: 'digits', context: 'phone', keyVersion: 1 }),
                       '5551234567', 'a retired version still reverses its tokens');
    const p = await c.pseudonymize('ps:mrn', ' MRN-1 ', { normalize: phicrypt.NORM_TRIM, length: 32 });
    assert.strictEqual(await c.verifyPseudonym('ps:mrn', 'MRN-1', p, { normalize: phicrypt.NORM_TRIM, length: 32 }), true);
    assert.strictEqual(await c.verifyPseudonym('ps:mrn', 'MRN-2', p, { normalize: phicrypt.NORM_TRIM, length: 32 }), false);
    await c.destroyTokenKey('tok:phone', 0);
    await assert.rejects(c.detokenize('tok:phone', t1, { format: 'digits', keyVersion: 1 }), phicrypt.KeyNotFound);
    await assert.rejects(c.rotateTokenKey(1), TypeError);
    await assert.rejects(c.retireTokenKey('ps:mrn', -1), TypeError);
    await assert.rejects(c.destroyTokenKey('ps:mrn', 2 ** 33), TypeError);
    await assert.rejects(c.pseudonymize('ps:mrn', 'x', { normalize: 8 }), TypeError);
    await assert.rejects(c.verifyPseudonym('ps:mrn', 'x', 42), TypeError);
    await assert.rejects(c.tokenize('tok:ssn', 123456789), /String\(n\)/);
    await assert.rejects(c.tokenize('tok:ssn', 'x', { alphabet: 5 }), TypeError);
  } finally { c.close(); }
});

test('test_node__closed_client_refuses_every_call', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  const id = await c.createDataKey();
  c.close();
  c.close();
  const s = { actor: 'a', role: 'r', purpose: 'p' };
  const calls = [() => c.listDataKeys(), () => c.getDataKey(id), () => c.deleteDataKey(id), () => c.rewrapDataKeys(),
    () => c.keyIdByAltName('x'), () => c.encryptJson('"x"', { keyId: id, algorithm: 'random' }),
    () => c.decryptBson(bsonString('x')), () => c.analyzeCommand('db', {}), () => c.decryptAs(s, null, 'f', Buffer.alloc(3)),
    () => c.accessAllowed(s, null, 'f'), () => c.auditVerify(), () => c.deidentifyJson({ version: 1, fields: {} }, {}),
    () => c.listTokenKeys(), () => c.rotateTokenKey('k'), () => c.verifyPseudonym('k', 'v', 'p')];
  for (const call of calls)
    await assert.rejects(call(), (e) => e instanceof phicrypt.InvalidArgument && /closed/.test(e.message));
});

test('test_node__close_with_calls_in_flight', async () => {
  const { cfg } = keySet();
  const c = await phicrypt.Client.open(cfg);
  await c.createDataKey('local', { keyAltName: 'k' });
  const pending = Array.from({ length: 50 }, (_, i) => c.encrypt(`v${i}`, { keyAltName: 'k', algorithm: 'random' }));
  c.close(); // frees the handle after the last of them
  const cts = await Promise.all(pending);
  assert.strictEqual(cts.length, 50);
  await assert.rejects(c.decrypt(cts[0]), /closed/);
});

test('test_node__native_layer_refuses_misuse', async () => {
  // The native client functions are reachable from JS: wrong shapes must throw, never read
  // past an array; an unknown or missing handle number is refused.
  const addon = require('../build/Release/phicrypt.node');
  assert.throws(() => addon.clientCall(123456, 0, ['"x"']), /closed/);
  assert.throws(() => addon.clientCall('x', 0, ['"x"']), TypeError);
  const id = addon.clientNew();
  const n = { open: (...a) => addon.clientOpen(id, ...a), call: (...a) => addon.clientCall(id, ...a),
              close: () => addon.clientClose(id) };
  assert.throws(() => n.call(0, ['"x"']), /closed/);
  assert.throws(() => n.open(42, true), TypeError);
  const { d } = keySet();
  await n.open(path.join(d, 'phicrypt.json'), true);
  assert.throws(() => n.open(path.join(d, 'phicrypt.json'), true), /already open/);
  assert.throws(() => n.call(0, []), /wrong number of arguments/);
  assert.throws(() => n.call(9999, []), /unknown operation/);
  assert.throws(() => n.call(-1, []), /unknown operation/);
  assert.throws(() => n.call(1, [42]), /strings or Buffers/);
  assert.throws(() => n.call(2, ['k', 'v', '', '', ''], ['1']), /numbers expected/);
  assert.throws(() => n.call(13, 'x'), TypeError);
  assert.throws(() => n.call(15, [], [], () => {}), /only the file calls take a progress function/);
  // after all those refusals no call is counted in flight: close frees the handle now
  n.close();
  assert.throws(() => n.call(15, []), /closed/);
});

// Teardown: the process exits, or the client is collected, while calls are on the thread pool.
function child(script) {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    encoding: 'utf8', env: { ...process.env, PHICRYPT_NODE_DIR: path.join(__dirname, '..') } });
  return r;
}
const PRELUDE = `
  const phicrypt = require(process.env.PHICRYPT_NODE_DIR);
  const fs = require('fs'), os = require('os'), path = require('path');
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'phicrypt-node-'));
  phicrypt.createLocalKeyFile(path.join(d, 'master.key'));
  const cfg = { kms_providers: { local: { key_file: path.join(d, 'master.key') } },
                key_vault: 'file:' + path.join(d, 'kv.jsonl'), keyring: 'file:' + path.join(d, 'kr.jsonl') };
  fs.writeFileSync(path.join(d, 'kv.jsonl'), ''); fs.writeFileSync(path.join(d, 'kr.jsonl'), '');
`;

test('test_node__exit_with_calls_in_flight', () => {
  const r = child(PRELUDE + `
    (async () => {
      const c = await phicrypt.Client.open(cfg);
      await c.createDataKey('local', { keyAltName: 'k' });
      for (let i = 0; i < 200; i++) c.encrypt('v' + i, { keyAltName: 'k', algorithm: 'random' }).catch(() => {});
      phicrypt.Client.open(cfg).catch(() => {});
      setImmediate(() => process.exit(0));
    })();`);
  assert.strictEqual(r.signal, null, r.stderr);
  assert.strictEqual(r.status, 0, r.stderr);
});

test('test_node__collected_client_with_calls_in_flight', () => {
  const r = child(PRELUDE + `
    (async () => {
      let c = await phicrypt.Client.open(cfg);
      await c.createDataKey('local', { keyAltName: 'k' });
      const pending = [];
      for (let i = 0; i < 100; i++) pending.push(c.encrypt('v' + i, { keyAltName: 'k', algorithm: 'random' }));
      c = null;
      for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
      const cts = await Promise.all(pending);
      if (cts.length !== 100) throw new Error('lost calls');
      global.gc();
      console.log('ok');
    })().catch((e) => { console.error(e); process.exit(3); });`);
  assert.strictEqual(r.signal, null, r.stderr);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'ok');
});

test('test_node__mongocrypt_version_and_strerror', () => {
  assert.match(phicrypt.mongocryptVersion(), /^\d+\.\d+/);
  assert.match(phicrypt.strerror(-10), /access/i);
  assert.throws(() => phicrypt.strerror('x'), TypeError);
});

// Known answers: Wycheproof aes_ff1_base10/base36 (tests/vectors/wycheproof_aes_ff1_str.txt, tcIds as named).
test('test_node__ff1_known_answers_and_arguments', async () => {
  const A10 = '0123456789', A36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const vectors = [
    ['base10 tcId 19', A10, '474bbf2aff5c252419c49a07d50e2bdf', 'd64296c362368a3d', '302141', '166088'],
    ['base10 tcId 20', A10, '26dbd1998c3a046ac3ff11937079c034', '5e551c3daad7e5fa', '000000', '894813'],
    ['base10 tcId 109', A10, '60d83b209822c0d9b7033dca86444fa1', '23ef05b155a108c4', '30154445', '84198835'],
    ['base36 tcId 61', A36, '0319599d6c7ca301230ec2b06c681097', '125fd8f86c787e2d', 'GH3XM', 'YLBVO'],
  ];
  for (const [name, alphabet, key, tweak, msg, ct] of vectors) {
    const k = Buffer.from(key, 'hex'), tw = Buffer.from(tweak, 'hex');
    assert.strictEqual(await phicrypt.ff1Encrypt(k, tw, alphabet, msg), ct, name);
    assert.strictEqual(await phicrypt.ff1Decrypt(k, tw, alphabet, ct), msg, name);
    const b = await phicrypt.ff1Encrypt(k, tw, Buffer.from(alphabet), Buffer.from(msg));
    assert.ok(Buffer.isBuffer(b) && b.toString() === ct, `${name} (Buffers)`);
  }
  const k = Buffer.alloc(16, 1), tw = Buffer.alloc(0);
  await assert.rejects(phicrypt.ff1Encrypt(Buffer.alloc(15), tw, A10, '123456'), /16, 24 or 32/);
  await assert.rejects(phicrypt.ff1Encrypt('k'.repeat(16), tw, A10, '123456'), TypeError);
  await assert.rejects(phicrypt.ff1Encrypt(k, 'tweak', A10, '123456'), TypeError);
  await assert.rejects(phicrypt.ff1Encrypt(k, tw, A10, 123456), /String|string/);
  await assert.rejects(phicrypt.ff1Encrypt(k, tw, 'αβγδεζηθικ', 'αβγ'), /Latin-1/);
  await assert.rejects(phicrypt.ff1Encrypt(k, tw, A10, '12a456'), (e) => e instanceof phicrypt.PhicryptError && !e.message.includes('12a456'));
  await assert.rejects(phicrypt.ff1Encrypt(k, tw, A10, '1'), (e) => e instanceof phicrypt.PhicryptError);
});
