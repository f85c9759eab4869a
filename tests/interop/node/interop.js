// The Node.js side of phicrypt's interop suite (tests/interop/interop.py runs it).
// Official driver: mongodb + mongodb-client-encryption (pinned in package-lock.json).
// The server (MONGODB_URI) is the suite's test server on 127.0.0.1.
//
//   node interop.js check FIXTURE OUT     decrypt another side's fixture (format v1, see
//       ../README.md) and re-encrypt its deterministic cases; OUT gets
//       {"decrypted": {name: canonical EJSON}, "reencrypted": {name: base64}}.
//       Checking is interop.py's job: this script only reports what the driver did.
//   node interop.js produce REQUEST OUT   create a data key (local KMS, REQUEST's master key)
//       in the server's key vault and encrypt REQUEST's cases: a fixture v1 in OUT.
//   node interop.js command SPEC OUT / write SPEC OUT   the automatic-encryption path (below).
'use strict';
const fs = require('fs');
const { MongoClient, ClientEncryption, BSON, ObjectId } = require('mongodb');
const { EJSON } = BSON;

const uri = process.env.MONGODB_URI;
if (!uri || !/^mongodb:\/\/127\.0\.0\.1:/.test(uri)) {
  console.error('interop.js: MONGODB_URI must be a loopback test server (mongodb://127.0.0.1:...)');
  process.exit(2);
}
const readEjson = (p) => EJSON.parse(fs.readFileSync(p, 'utf8'), { relaxed: false });
const canon = (v) => EJSON.stringify(v, { relaxed: false });
const b64 = (bin) => Buffer.from(bin.buffer).toString('base64');

function splitNs(ns) {
  const i = ns.indexOf('.');
  return [ns.slice(0, i), ns.slice(i + 1)];
}

async function check(fixturePath, outPath) {
  const fx = readEjson(fixturePath);
  const [kdb, kcoll] = splitNs(fx.key_vault_namespace);
  const kmsProviders = fx.kms_providers;
  const plain = new MongoClient(uri);
  // bypassAutoEncryption: the driver decrypts what it reads and never needs mongocryptd.
  const auto = new MongoClient(uri, {
    autoEncryption: { keyVaultNamespace: fx.key_vault_namespace, kmsProviders, bypassAutoEncryption: true },
  });
  try {
    await plain.connect();
    await auto.connect();
    const vault = plain.db(kdb).collection(kcoll);
    // The fixture's key documents go into the shared vault as the producer wrote them.
    const ids = fx.keys.map((k) => k._id);
    await vault.deleteMany({ _id: { $in: ids } });
    await vault.insertMany(fx.keys);

    const collName = 'from_' + fx.producer.name + '_' + new ObjectId().toHexString();
    const docs = fx.cases.map((c) => ({ _id: new ObjectId(), name: c.name, ct: c.ciphertext }));
    await plain.db('interop').collection(collName).insertMany(docs);
    // promoteValues/promoteLongs off and bsonRegExp on: every value keeps its BSON type,
    // so an int32 stays $numberInt and a double $numberDouble when printed.
    const read = await auto
      .db('interop')
      .collection(collName)
      .find({}, { promoteValues: false, promoteLongs: false, bsonRegExp: true })
      .toArray();
    const decrypted = {};
    for (const d of read) {
      const name = d.name.toString();
      decrypted[name] = canon(d.ct);
    }

    const ce = new ClientEncryption(plain, { keyVaultNamespace: fx.key_vault_namespace, kmsProviders });
    const reencrypted = {};
    for (const c of fx.cases) {
      if (!c.algorithm.endsWith('-Deterministic')) continue;
      const ct = await ce.encrypt(c.value, { keyId: c.key_id, algorithm: c.algorithm });
      reencrypted[c.name] = b64(ct);
    }
    fs.writeFileSync(outPath, JSON.stringify({ decrypted, reencrypted }, null, 1));
  } finally {
    await auto.close();
    await plain.close();
  }
}

async function produce(requestPath, outPath) {
  const rq = readEjson(requestPath);
  const [kdb, kcoll] = splitNs(rq.key_vault_namespace);
  const plain = new MongoClient(uri);
  try {
    await plain.connect();
    const ce = new ClientEncryption(plain, {
      keyVaultNamespace: rq.key_vault_namespace,
      kmsProviders: rq.kms_providers,
    });
    const altName = 'interop-node-' + new ObjectId().toHexString();
    const keyId = await ce.createDataKey('local', { keyAltNames: [altName] });
    const keyDoc = await plain.db(kdb).collection(kcoll).findOne({ _id: keyId });
    const cases = [];
    for (const c of rq.cases) {
      const ct = await ce.encrypt(c.value, { keyId, algorithm: c.algorithm });
      cases.push({ name: c.name, algorithm: c.algorithm, key_id: keyId, value: c.value, ciphertext: ct });
    }
    const pkg = (n) => require(n + '/package.json').version;
    const fx = {
      format: 'phicrypt-interop-fixture',
      version: 1,
      producer: { name: 'node', version: `mongodb ${pkg('mongodb')}, mongodb-client-encryption ${pkg('mongodb-client-encryption')}, libmongocrypt ${ClientEncryption.libmongocryptVersion}` },
      kms_providers: rq.kms_providers,
      key_vault_namespace: rq.key_vault_namespace,
      keys: [keyDoc],
      cases,
    };
    // canonical Extended JSON for the BSON values; the envelope's version stays a plain number
    const out = EJSON.serialize(fx, { relaxed: false });
    out.version = 1;
    fs.writeFileSync(outPath, JSON.stringify(out, null, 1));
  } finally {
    await plain.close();
  }
}

// The commands phicrypt encrypt-command wrote (an insert, then a find by the encrypted SSN)
// are sent with the plain driver; the documents are read back through an auto-decrypting
// client with bypassAutoEncryption. SPEC: {"fixture": F, "db": D, "commands": [...]}.
// OUT: {"found": [docs the find returned, raw], "decrypted": [every document, decrypted]}.
async function command(specPath, outPath) {
  const spec = readEjson(specPath);
  const fx = readEjson(spec.fixture);
  const plain = new MongoClient(uri);
  const auto = new MongoClient(uri, {
    autoEncryption: { keyVaultNamespace: fx.key_vault_namespace, kmsProviders: fx.kms_providers, bypassAutoEncryption: true },
  });
  try {
    await plain.connect();
    await auto.connect();
    const db = plain.db(spec.db);
    const replies = [];
    for (const c of spec.commands) replies.push(await db.command(c));
    const found = replies[replies.length - 1].cursor.firstBatch;
    const coll = spec.commands[0].insert;
    const ids = spec.commands[0].documents.map((d) => d._id);
    const decrypted = await auto
      .db(spec.db)
      .collection(coll)
      .find({ _id: { $in: ids } }, { promoteValues: false, promoteLongs: false, bsonRegExp: true, sort: { _id: 1 } })
      .toArray();
    fs.writeFileSync(outPath, EJSON.stringify({ found, decrypted }, { relaxed: false }));
  } finally {
    await auto.close();
    await plain.close();
  }
}

// A document written by the driver: ssn encrypted deterministically and diagnosis randomly
// (explicit encryption with the fixture's key), inserted, and read back raw for phicrypt
// decrypt-document. SPEC: {"fixture": F, "db": D, "coll": C, "doc": {...}}; OUT: the raw
// document as canonical Extended JSON.
async function write(specPath, outPath) {
  const spec = readEjson(specPath);
  const fx = readEjson(spec.fixture);
  const plain = new MongoClient(uri);
  try {
    await plain.connect();
    const ce = new ClientEncryption(plain, { keyVaultNamespace: fx.key_vault_namespace, kmsProviders: fx.kms_providers });
    const keyId = fx.keys[0]._id;
    const doc = Object.assign({}, spec.doc);
    doc.ssn = await ce.encrypt(doc.ssn, { keyId, algorithm: 'AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic' });
    doc.diagnosis = await ce.encrypt(doc.diagnosis, { keyId, algorithm: 'AEAD_AES_256_CBC_HMAC_SHA_512-Random' });
    const coll = plain.db(spec.db).collection(spec.coll);
    await coll.insertOne(doc); // the driver adds a client-generated ObjectId _id
    const raw = await coll.findOne({ _id: doc._id }, { promoteValues: false, promoteLongs: false, bsonRegExp: true });
    fs.writeFileSync(outPath, EJSON.stringify(raw, { relaxed: false }));
  } finally {
    await plain.close();
  }
}

const [cmd, a, b] = process.argv.slice(2);
const cmds = { check, produce, command, write };
const run = Object.prototype.hasOwnProperty.call(cmds, cmd) ? cmds[cmd] : null;
if (!run || !a || !b) {
  console.error('usage: node interop.js check FIXTURE OUT | produce REQUEST OUT | command SPEC OUT | write SPEC OUT');
  process.exit(2);
}
run(a, b).catch((e) => {
  // The driver's message names the failing step; values are never printed.
  console.error('interop.js ' + cmd + ': ' + (e && e.message ? e.message : e));
  process.exit(1);
});
