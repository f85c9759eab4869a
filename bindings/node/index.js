'use strict';
// phicrypt for Node.js: a thin layer over libphicrypt (N-API). Every method that
// runs crypto or file work returns a Promise settled from the libuv thread pool.
// Values cross as Extended JSON: strings, numbers, booleans, null, arrays, objects.
const path = require('path');
const fs = require('fs');

function loadAddon() {
  const candidates = [path.join(__dirname, 'build', 'Release', 'phicrypt.node'),
                      path.join(__dirname, 'build', 'Debug', 'phicrypt.node')];
  for (const c of candidates) if (fs.existsSync(c)) return require(c);
  throw new Error('phicrypt: the native addon is not built (npm install builds it; it needs libphicrypt-dev)');
}
const addon = loadAddon();

/** Base class of every error from libphicrypt: `code` is the C return code. */
class PhicryptError extends Error {
  constructor(message, code) { super(message); this.name = this.constructor.name; this.code = code; }
}
// One class per PHICRYPT_E* code (include/phicrypt/common.h); the numbers never change.
const CODES = {
  '-1': 'InvalidArgument', '-2': 'BadData', '-3': 'SchemaError', '-4': 'KeyNotFound', '-5': 'KeyVaultError',
  '-6': 'KmsError', '-7': 'KmsAuthError', '-8': 'OperationTimeout', '-9': 'AuthenticationError',
  '-10': 'AccessDenied', '-11': 'OutOfMemory', '-12': 'BufferTooSmall', '-13': 'ConfigError',
  '-14': 'FileIOError', '-15': 'AlreadyExists', '-16': 'Unsupported', '-17': 'InternalError',
};
const errors = { PhicryptError };
for (const name of Object.values(CODES)) errors[name] = class extends PhicryptError {};
for (const name of Object.values(CODES)) Object.defineProperty(errors[name], 'name', { value: name });

function toError(e) {
  if (e instanceof Error && !('code' in e)) return e;
  const cls = errors[CODES[String(e.code)]] || PhicryptError;
  return new cls(e.message, e.code);
}
async function settle(p) { try { return await p; } catch (e) { throw toError(e); } }

function need(fn, name, v, type) {
  // eslint-disable-next-line valid-typeof
  if (typeof v !== type) throw new TypeError(`${fn}(): ${name} must be a ${type}, not ${v === null ? 'null' : typeof v}`);
}
function optional(fn, name, v, type) { if (v !== undefined && v !== null) need(fn, name, v, type); }

const OP = { ENCRYPT: 0, DECRYPT: 1, TOKENIZE: 2, DETOKENIZE: 3, PSEUDONYMIZE: 4, CREATE_DATA_KEY: 5,
             CREATE_TOKEN_KEY: 6, ENCRYPT_COMMAND: 7, ENCRYPT_DOCUMENT: 8, DECRYPT_DOCUMENT: 9, DEID_FILE: 10,
             REID_FILE: 11, DECRYPT_DOCUMENT_AS: 12 };
const FORMATS = ['auto', 'jsonl', 'json', 'bson', 'csv'];

function policyText(fn, policy) {
  if (policy && typeof policy === 'object' && !Array.isArray(policy)) return JSON.stringify(policy);
  if (typeof policy === 'string') return policy.trimStart().startsWith('{') ? policy : fs.readFileSync(policy, 'utf8');
  throw new TypeError(`${fn}(): policy must be an object, JSON text or a path`);
}

// A document given as Extended JSON text or as an object in Extended JSON form (what
// bson's EJSON.serialize gives, or plain JSON values).
function ejsonText(fn, name, doc) {
  if (typeof doc === 'string') return doc;
  if (doc && typeof doc === 'object' && !Buffer.isBuffer(doc) && !Array.isArray(doc)) return JSON.stringify(doc);
  throw new TypeError(`${fn}(): ${name} must be an object or Extended JSON text, not ${doc === null ? 'null' : typeof doc}`);
}

// The native side keeps handles by number (no wrapped native objects: their
// deferred finalizers can crash Node.js 20 at exit). A client that becomes
// unreachable without close() is closed by this registry.
const unreachable = new FinalizationRegistry((id) => addon.close(id));

class NativeClient {
  constructor() { this.id = 0; }
  async open(text, isPath) {
    this.id = await addon.open(text, isPath);
    unreachable.register(this, this.id, this);
  }
  call(op, args, num) { return addon.call(this.id, op, args, num); }
  close() {
    if (!this.id) return;
    unreachable.unregister(this);
    addon.close(this.id);
    this.id = 0;
  }
}

class Client {
  constructor(native) { this._n = native; }

  /** Open a client from the path of a phicrypt.json, a configuration object, or JSON text. */
  static async open(config) {
    const n = new NativeClient();
    if (typeof config === 'string') {
      const text = config.trimStart().startsWith('{');
      await settle(n.open(config, !text));
    } else if (config && typeof config === 'object') {
      await settle(n.open(JSON.stringify(config), false));
    } else {
      throw new TypeError('Client.open(): config must be a path, JSON text or an object');
    }
    return new Client(n);
  }

  /** Free the handle and wipe its keys (after the calls in flight). Idempotent. */
  close() { this._n.close(); }

  /** Create a data key; resolves to its 16-byte id. */
  async createDataKey(provider = 'local', { keyAltName } = {}) {
    need('createDataKey', 'provider', provider, 'string');
    optional('createDataKey', 'keyAltName', keyAltName, 'string');
    return settle(this._call(OP.CREATE_DATA_KEY, [provider, keyAltName || '']));
  }

  /** Encrypt one value (CSFLE); `algorithm` is required ('deterministic' leaks equality). Resolves to
   * the BSON binary subtype 6 payload as a Buffer. */
  async encrypt(value, { keyAltName, keyId, algorithm } = {}) {
    if (algorithm !== 'deterministic' && algorithm !== 'random')
      throw new TypeError("encrypt(): algorithm must be 'deterministic' or 'random'");
    if ((keyAltName === undefined) === (keyId === undefined))
      throw new TypeError('encrypt(): give exactly one of keyAltName and keyId');
    optional('encrypt', 'keyAltName', keyAltName, 'string');
    if (keyId !== undefined && !(Buffer.isBuffer(keyId) && keyId.length === 16))
      throw new TypeError('encrypt(): keyId must be a 16-byte Buffer');
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint')
      throw new TypeError(`encrypt(): value must be JSON-representable, not ${typeof value}`);
    const ct = await settle(this._call(OP.ENCRYPT, [JSON.stringify(value), algorithm, keyAltName || '',
                                                    keyId || Buffer.alloc(0)]));
    return Buffer.from(JSON.parse(ct).$binary.base64, 'base64');
  }

  /** Decrypt a subtype 6 payload (Buffer) to the value. */
  async decrypt(ciphertext) {
    if (!Buffer.isBuffer(ciphertext))
      throw new TypeError(`decrypt(): ciphertext must be a Buffer (what encrypt() returned), not ${typeof ciphertext}`);
    const ext = JSON.stringify({ $binary: { base64: ciphertext.toString('base64'), subType: '06' } });
    return JSON.parse(await settle(this._call(OP.DECRYPT, [ext])));
  }

  /** Encrypt a MongoDB command per the schema map (no mongocryptd); resolves to the command to send,
   * as an object in canonical Extended JSON form (EJSON.deserialize gives the driver's types). */
  async encryptCommand(db, command) {
    need('encryptCommand', 'db', db, 'string');
    return JSON.parse(await settle(this._call(OP.ENCRYPT_COMMAND, [db, ejsonText('encryptCommand', 'command', command)])));
  }

  /** The document as it would be inserted into `ns` ("db.collection"), encrypted per the schema map. */
  async encryptDocument(ns, document) {
    need('encryptDocument', 'ns', ns, 'string');
    return JSON.parse(await settle(this._call(OP.ENCRYPT_DOCUMENT, [ns, ejsonText('encryptDocument', 'document', document)])));
  }

  /** Decrypt every encrypted value of a document (a reply, a found document), at any depth;
   * resolves to relaxed Extended JSON form. */
  async decryptDocument(document) {
    return JSON.parse(await settle(this._call(OP.DECRYPT_DOCUMENT, [ejsonText('decryptDocument', 'document', document)])));
  }

  /** De-identify a file (JSON lines, JSON array, BSON, CSV) with a policy into outPath (atomic);
   * resolves to the report. The file work runs on the thread pool. */
  async deidentifyFile(policy, inPath, outPath, options = {}) {
    return this._deid(OP.DEID_FILE, 'deidentifyFile', policy, inPath, outPath, options);
  }

  /** Reverse the reversible actions (tokens, ciphertexts) of deidentifyFile. */
  async reidentifyFile(policy, inPath, outPath, options = {}) {
    return this._deid(OP.REID_FILE, 'reidentifyFile', policy, inPath, outPath, options);
  }

  /** decryptDocument for a session {actor, role, purpose, subject?}: only the fields the role may see
   * in `ns` (or null); audited when the configuration has an audit log. */
  async decryptDocumentAs(session, ns, document) {
    const fn = 'decryptDocumentAs';
    if (!session || typeof session !== 'object') throw new TypeError(`${fn}(): session must be {actor, role, purpose}`);
    for (const k of ['actor', 'role', 'purpose']) need(fn, `session.${k}`, session[k], 'string');
    optional(fn, 'session.subject', session.subject, 'string');
    optional(fn, 'ns', ns, 'string');
    return JSON.parse(await settle(this._call(OP.DECRYPT_DOCUMENT_AS, [session.actor, session.role, session.purpose,
      session.subject || '', ns || '', ejsonText(fn, 'document', document)])));
  }

  _deid(op, fn, policy, inPath, outPath, { threads = 1, format = 'auto' } = {}) {
    need(fn, 'inPath', inPath, 'string');
    need(fn, 'outPath', outPath, 'string');
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) throw new TypeError(`${fn}(): threads must be an integer 0..1024`);
    if (!FORMATS.includes(format)) throw new TypeError(`${fn}(): format must be one of ${FORMATS.join(', ')}`);
    const text = policyText(fn, policy);
    return settle(this._call(op, [text, inPath, outPath, format], threads)).then(JSON.parse);
  }

  async createTokenKey(name, algorithm = 'ff1') {
    need('createTokenKey', 'name', name, 'string');
    if (!['ff1', 'siv', 'hmac'].includes(algorithm)) throw new TypeError("createTokenKey(): algorithm is 'ff1', 'siv' or 'hmac'");
    return settle(this._call(OP.CREATE_TOKEN_KEY, [name, algorithm]));
  }

  async tokenize(keyName, value, { format, context, keyVersion = 0 } = {}) {
    return this._token(OP.TOKENIZE, 'tokenize', keyName, value, format, context, keyVersion);
  }

  async detokenize(keyName, token, { format, context, keyVersion = 0 } = {}) {
    return this._token(OP.DETOKENIZE, 'detokenize', keyName, token, format, context, keyVersion);
  }

  async pseudonymize(keyName, value, { context } = {}) {
    need('pseudonymize', 'keyName', keyName, 'string');
    need('pseudonymize', 'value', value, 'string');
    optional('pseudonymize', 'context', context, 'string');
    return settle(this._call(OP.PSEUDONYMIZE, [keyName, value, context || '']));
  }

  _token(op, fn, keyName, value, format, context, keyVersion) {
    need(fn, 'keyName', keyName, 'string');
    need(fn, op === OP.TOKENIZE ? 'value' : 'token', value, 'string');
    optional(fn, 'format', format, 'string');
    optional(fn, 'context', context, 'string');
    if (!Number.isInteger(keyVersion) || keyVersion < 0 || keyVersion > 0xffffffff)
      throw new TypeError(`${fn}(): keyVersion must be an integer 0..2^32-1`);
    return settle(this._call(op, [keyName, value, format || '', context || ''], keyVersion));
  }

  _call(op, args, num) {
    try { return this._n.call(op, args, num); } catch (e) { return Promise.reject(e); }
  }
}

module.exports = {
  Client, ...errors, version: addon.version, strerror: addon.strerror,
  createLocalKeyFile(p) { need('createLocalKeyFile', 'path', p, 'string'); try { addon.createLocalKeyFile(p); } catch (e) { throw toError(e); } },
};
