'use strict';
// phicrypt with the official MongoDB driver, without mongocryptd: the document is
// encrypted per the schema map before insertOne, the query filter is encrypted the way
// mongocryptd would mark it, and what find returns is decrypted. With MONGODB_URI (or
// PHICRYPT_TEST_MONGODB_URI: the test server of tests/mongo) it talks to that server;
// without one it prints what it would send and decrypts that, as the C service example does.
//   node example.js KEYDIR      (KEYDIR: made here if missing)
const fs = require('fs');
const path = require('path');
const { MongoClient, BSON } = require('mongodb');
const { Client } = require(process.env.PHICRYPT_NODE || '../..');

async function main() {
  const dir = path.resolve(process.argv[2] || 'example-keys');
  const phicrypt = require(process.env.PHICRYPT_NODE || '../..');
  if (!fs.existsSync(path.join(dir, 'master.key'))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    phicrypt.createLocalKeyFile(path.join(dir, 'master.key'));
    fs.writeFileSync(path.join(dir, 'keyvault.jsonl'), '');
  }
  const base = { kms_providers: { local: { key_file: path.join(dir, 'master.key') } },
                 key_vault: 'file:' + path.join(dir, 'keyvault.jsonl') };
  const setup = await Client.open(base);
  const keyId = await setup.createDataKey('local');
  setup.close();
  const enc = (alg) => ({ encrypt: { bsonType: 'string', algorithm: `AEAD_AES_256_CBC_HMAC_SHA_512-${alg}` } });
  const c = await Client.open({ ...base, schema_map: { 'hospital.patients': { bsonType: 'object',
    encryptMetadata: { keyId: [{ $binary: { base64: keyId.toString('base64'), subType: '04' } }] },
    properties: { ssn: enc('Deterministic'), diagnosis: enc('Random') } } } });
  try {
    const patient = { _id: 1, name: 'Ada Example', ssn: '123-45-6789', diagnosis: 'flu' };
    // what goes to the server: BSON values (Binary subtype 6) from phicrypt's Extended JSON
    const stored = BSON.EJSON.deserialize(await c.encryptDocument('hospital.patients', patient));
    const find = BSON.EJSON.deserialize(await c.encryptCommand('hospital',
      { find: 'patients', filter: { ssn: '123-45-6789' } }));
    const uri = process.env.MONGODB_URI || process.env.PHICRYPT_TEST_MONGODB_URI;
    let found;
    if (uri) {
      const m = new MongoClient(uri, { serverSelectionTimeoutMS: 10000 });
      try {
        const coll = m.db('hospital').collection('patients');
        await coll.deleteMany({});
        await coll.insertOne(stored);
        found = await coll.findOne(find.filter);
        const raw = await m.db('hospital').collection('patients').findOne({ _id: 1 });
        console.log('stored ssn is BinData subtype', raw.ssn.sub_type);
      } finally { await m.close(); }
    } else {
      console.log('no server: the insert would carry', BSON.EJSON.stringify(stored));
      found = stored;
    }
    if (!found) throw new Error('the encrypted filter found nothing');
    const plain = await c.decryptDocument(BSON.EJSON.serialize(found, { relaxed: false }));
    console.log('found and decrypted:', JSON.stringify(plain));
    if (plain.ssn !== patient.ssn || plain.diagnosis !== patient.diagnosis) throw new Error('round trip failed');
  } finally { c.close(); }
}

main().catch((e) => { console.error('example:', e.message); process.exit(1); });
