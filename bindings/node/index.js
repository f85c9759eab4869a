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

const OP = {};
['ENCRYPT', 'DECRYPT', 'TOKENIZE', 'DETOKENIZE', 'PSEUDONYMIZE', 'CREATE_DATA_KEY', 'CREATE_TOKEN_KEY', 'ENCRYPT_COMMAND',
 'ENCRYPT_DOCUMENT', 'DECRYPT_DOCUMENT', 'DEID_FILE', 'REID_FILE', 'DECRYPT_DOCUMENT_AS', 'DATAKEY_GET',
 'DATAKEY_GET_BY_ALT_NAME', 'DATAKEY_LIST', 'DATAKEY_DELETE', 'DATAKEY_ADD_ALT_NAME', 'DATAKEY_REMOVE_ALT_NAME',
 'DATAKEY_ID_BY_ALT_NAME', 'DATAKEY_REWRAP', 'ENCRYPT_BSON', 'DECRYPT_BSON', 'DECRYPT_JSON', 'ANALYZE_COMMAND', 'DECRYPT_AS',
 'DETOKENIZE_AS', 'REID_FILE_AS', 'ACCESS_CHECK', 'AUDIT_VERIFY', 'AUDIT_DISCLOSURES', 'AUDIT_SUBJECT_ID', 'DEID_JSON',
 'KEYRING_ROTATE', 'KEYRING_RETIRE', 'KEYRING_DESTROY', 'KEYRING_LIST', 'PSEUDONYM_VERIFY'].forEach((n, i) => { OP[n] = i; });
const FORMATS = ['auto', 'jsonl', 'json', 'bson', 'csv'];
const ALGORITHMS = ['deterministic', 'random'];
const NORM_TRIM = 1, NORM_CASEFOLD = 2, NORM_COLLAPSE = 4;
const UINT32_MAX = 0xffffffff;

function kind(v) { return v === null ? 'null' : Array.isArray(v) ? 'array' : Buffer.isBuffer(v) ? 'Buffer' : typeof v; }
function integer(fn, name, v, lo, hi) {
  if (!Number.isSafeInteger(v) || v < lo || v > hi)
    throw new TypeError(`${fn}(): ${name} must be an integer ${lo}..${hi}, not ${typeof v === 'number' ? v : kind(v)}`);
  return v;
}
function boolean(fn, name, v) {
  if (typeof v !== 'boolean') throw new TypeError(`${fn}(): ${name} must be a boolean, not ${kind(v)}`);
  return v;
}
function isBinary(v) { return v !== null && typeof v === 'object' && v._bsontype === 'Binary'; }
function binaryBytes(b) { return Buffer.from(b.buffer.buffer, b.buffer.byteOffset, typeof b.position === 'number' ? b.position : b.buffer.length); }

// A key id: a 16-byte Buffer, or a bson Binary subtype 4 (what the driver and EJSON.deserialize give).
function keyIdArg(fn, name, v) {
  const b = Buffer.isBuffer(v) ? v : isBinary(v) && v.sub_type === 4 ? binaryBytes(v) : null;
  if (!b) throw new TypeError(`${fn}(): ${name} must be a 16-byte Buffer or a bson Binary subtype 4, not ${kind(v)}`);
  if (b.length !== 16) throw new TypeError(`${fn}(): ${name} is 16 bytes, not ${b.length}`);
  return b;
}
// A ciphertext: the Buffer encrypt() returned, or a bson Binary subtype 6 (as found by the driver).
function ciphertextArg(fn, v) {
  if (Buffer.isBuffer(v)) return v;
  if (isBinary(v) && v.sub_type === 6) return binaryBytes(v);
  throw new TypeError(`${fn}(): ciphertext must be a Buffer (what encrypt() returned) or a bson Binary subtype 6, ` +
                      `not ${kind(v)}${typeof v === 'string' ? '; for Extended JSON text use decryptJson()' : ''}`);
}
const ctJson = (ct) => JSON.stringify({ v: { $binary: { base64: ct.toString('base64'), subType: '06' } } });

// A value as canonical Extended JSON text: JSON values, plus Buffer/Uint8Array (binary), Date, bigint
// (int64) and bson Binary; what cannot be represented is a TypeError naming the argument.
function valueJson(fn, name, value) {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol')
    throw new TypeError(`${fn}(): ${name} must be JSON-representable, not ${typeof value}`);
  try {
    return JSON.stringify(value, function replace(k, v) {
      const o = this[k];
      if (o instanceof Uint8Array) return { $binary: { base64: Buffer.from(o.buffer, o.byteOffset, o.length).toString('base64'), subType: '00' } };
      if (isBinary(o)) return { $binary: { base64: binaryBytes(o).toString('base64'), subType: o.sub_type.toString(16).padStart(2, '0') } };
      if (o instanceof Date) return { $date: { $numberLong: String(o.getTime()) } };
      if (typeof o === 'bigint') return { $numberLong: o.toString() };
      if (typeof v === 'function' || typeof v === 'symbol') throw new TypeError(`${typeof v} at ${k}`);
      return v;
    });
  } catch (e) {
    throw new TypeError(`${fn}(): ${name} is not representable as Extended JSON (${e.message})`);
  }
}

function policyText(fn, policy) {
  if (policy && typeof policy === 'object' && !Array.isArray(policy) && !Buffer.isBuffer(policy)) return JSON.stringify(policy);
  if (typeof policy === 'string') {
    if (policy.trimStart().startsWith('{')) return policy;
    try { return fs.readFileSync(policy, 'utf8'); } catch (e) {
      throw new errors.FileIOError(`${fn}(): cannot read the policy file ${policy}: ${e.code || e.message}`, -14);
    }
  }
  throw new TypeError(`${fn}(): policy must be an object, JSON text or a path, not ${kind(policy)}`);
}

// A document: an object in Extended JSON form (what bson's EJSON.serialize gives, or plain JSON
// values), Extended JSON text, or BSON bytes (a Buffer: the result is BSON bytes too).
function docArg(fn, name, doc) {
  if (typeof doc === 'string' || Buffer.isBuffer(doc)) return doc;
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) return valueJson(fn, name, doc);
  throw new TypeError(`${fn}(): ${name} must be an object, Extended JSON text or BSON bytes (Buffer), not ${kind(doc)}`);
}
// The result of a document call, in the caller's form: object in, object out; text in, text out;
// BSON in, BSON out.
function docOut(input, out) { return typeof input === 'string' || Buffer.isBuffer(out) ? out : JSON.parse(out); }

function sessionArgs(fn, session) {
  if (!session || typeof session !== 'object' || Array.isArray(session))
    throw new TypeError(`${fn}(): session must be {actor, role, purpose, subject?}, not ${kind(session)}`);
  for (const k of ['actor', 'role', 'purpose']) {
    need(fn, `session.${k}`, session[k], 'string');
    if (session[k] === '' || session[k].includes('\0')) throw new TypeError(`${fn}(): session.${k} must be a non-empty string without NUL`);
  }
  optional(fn, 'session.subject', session.subject, 'string');
  return [session.actor, session.role, session.purpose, session.subject || ''];
}
function nsArg(fn, ns) { optional(fn, 'ns', ns, 'string'); return ns || ''; }
// A C string: no NUL inside (it would silently cut the text short).
function cstr(fn, name, v) {
  need(fn, name, v, 'string');
  if (v.includes('\0')) throw new TypeError(`${fn}(): ${name} must not contain NUL`);
  return v;
}
function ocstr(fn, name, v) { return v === undefined || v === null ? '' : cstr(fn, name, v); }
function jsonObj(fn, name, v) {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${fn}(): ${name} must be an object, not ${kind(v)}`);
  return valueJson(fn, name, v);
}
function encArgs(fn, { keyAltName, keyId, algorithm } = {}) {
  if (!ALGORITHMS.includes(algorithm))
    throw new TypeError(`${fn}(): algorithm must be 'deterministic' or 'random' (deterministic reveals equal values)`);
  if ((keyAltName === undefined || keyAltName === null) === (keyId === undefined || keyId === null))
    throw new TypeError(`${fn}(): give exactly one of keyAltName and keyId`);
  return [algorithm, ocstr(fn, 'keyAltName', keyAltName), keyId == null ? Buffer.alloc(0) : keyIdArg(fn, 'keyId', keyId)];
}
function tokenArgs(fn, { format, context, alphabet, keyVersion = 0 } = {}) {
  return [[ocstr(fn, 'format', format), ocstr(fn, 'context', context), ocstr(fn, 'alphabet', alphabet)],
          integer(fn, 'keyVersion', keyVersion, 0, UINT32_MAX)];
}
function textArg(fn, name, v, hint) {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return v;
  throw new TypeError(`${fn}(): ${name} must be a string or Buffer, not ${kind(v)}${hint ? `; ${hint}` : ''}`);
}
const VALUE_HINT = 'format numbers as text first, e.g. String(n)';
function deidNums(fn, { threads = 1, format = 'auto', skipBad = false, progress } = {}) {
  integer(fn, 'threads', threads, 0, 1024);
  if (!FORMATS.includes(format)) throw new TypeError(`${fn}(): format must be one of ${FORMATS.join(', ')}`);
  if (progress !== undefined && progress !== null && typeof progress !== 'function')
    throw new TypeError(`${fn}(): progress must be a function (records, bytesDone, bytesTotal), not ${kind(progress)}`);
  return [format, [threads, boolean(fn, 'skipBad', skipBad) ? 1 : 0], progress || undefined];
}

// The native side keeps clients by number (no wrapped native objects: their deferred
// finalizers could crash Node.js 20 at exit). A client that becomes unreachable is
// released through this registry; its handle is freed after its last call in flight.
const unreachable = new FinalizationRegistry((id) => addon.clientRelease(id));

class NativeClient {
  constructor() { this.id = addon.clientNew(); unreachable.register(this, this.id); }
  open(text, isPath) { return addon.clientOpen(this.id, text, isPath); }
  call(op, args, nums, progress) { return addon.clientCall(this.id, op, args, nums, progress); }
  close() { return addon.clientClose(this.id); }
}

class Client {
  constructor(native) { this._n = native; }

  /** Open a client from the path of a phicrypt.json, a configuration object, or JSON text. */
  static async open(config) {
    const n = new NativeClient();
    if (typeof config === 'string') {
      const text = config.trimStart().startsWith('{');
      await settle(n.open(config, !text));
    } else if (config && typeof config === 'object' && !Array.isArray(config) && !Buffer.isBuffer(config)) {
      await settle(n.open(JSON.stringify(config), false));
    } else {
      throw new TypeError(`Client.open(): config must be a path, JSON text or an object, not ${kind(config)}`);
    }
    return new Client(n);
  }

  /** Free the handle and wipe its keys (after the calls in flight). Idempotent. */
  close() { this._n.close(); }

  // -- data keys --------------------------------------------------------------------------------

  /** Create a data key wrapped by `provider`'s master key; resolves to its 16-byte id. */
  async createDataKey(provider = 'local', { keyAltName, keyAltNames, masterKey, keyMaterial } = {}) {
    const fn = 'createDataKey';
    cstr(fn, 'provider', provider);
    if (keyAltName !== undefined && keyAltNames !== undefined) throw new TypeError(`${fn}(): give keyAltName or keyAltNames, not both`);
    let names = keyAltName === undefined || keyAltName === null ? [] : [cstr(fn, 'keyAltName', keyAltName)];
    if (keyAltNames !== undefined) {
      if (!Array.isArray(keyAltNames)) throw new TypeError(`${fn}(): keyAltNames must be an array of strings, not ${kind(keyAltNames)}`);
      names = keyAltNames.map((n, i) => cstr(fn, `keyAltNames[${i}]`, n));
    }
    if (keyMaterial !== undefined && !(Buffer.isBuffer(keyMaterial) && keyMaterial.length === 96))
      throw new TypeError(`${fn}(): keyMaterial must be a 96-byte Buffer`);
    return this._call(OP.CREATE_DATA_KEY, [provider, jsonObj(fn, 'masterKey', masterKey), keyMaterial || Buffer.alloc(0), ...names]);
  }

  /** The key document (no key material) by id or { keyAltName }, in canonical Extended JSON form. */
  async getDataKey(keyId, { keyAltName } = {}) {
    const fn = 'getDataKey';
    if ((keyId === undefined || keyId === null) === (keyAltName === undefined))
      throw new TypeError(`${fn}(): give exactly one of keyId and { keyAltName }`);
    const out = keyAltName !== undefined ? await this._call(OP.DATAKEY_GET_BY_ALT_NAME, [cstr(fn, 'keyAltName', keyAltName)])
                                         : await this._call(OP.DATAKEY_GET, [keyIdArg(fn, 'keyId', keyId)]);
    return JSON.parse(out);
  }

  /** Every key document of the vault (no key material). */
  async listDataKeys() { return JSON.parse(await this._call(OP.DATAKEY_LIST, [])).keys; }

  /** Delete a data key: what it encrypted can no longer be decrypted. */
  async deleteDataKey(keyId) { return this._call(OP.DATAKEY_DELETE, [keyIdArg('deleteDataKey', 'keyId', keyId)]); }

  async addKeyAltName(keyId, altName) {
    return this._call(OP.DATAKEY_ADD_ALT_NAME, [keyIdArg('addKeyAltName', 'keyId', keyId), cstr('addKeyAltName', 'altName', altName)]);
  }

  async removeKeyAltName(keyId, altName) {
    return this._call(OP.DATAKEY_REMOVE_ALT_NAME, [keyIdArg('removeKeyAltName', 'keyId', keyId),
                                                   cstr('removeKeyAltName', 'altName', altName)]);
  }

  /** The 16-byte id of the data key with this alternate name. */
  async keyIdByAltName(altName) { return this._call(OP.DATAKEY_ID_BY_ALT_NAME, [cstr('keyIdByAltName', 'altName', altName)]); }

  /** Rotate master keys: rewrap the data keys matching `filter` (a MongoDB filter over key documents;
   * null: all) under `provider`'s master key (default: each key's own). Resolves to the count. */
  async rewrapDataKeys(filter = null, { provider, masterKey } = {}) {
    const fn = 'rewrapDataKeys';
    return this._call(OP.DATAKEY_REWRAP, [jsonObj(fn, 'filter', filter), ocstr(fn, 'provider', provider),
                                          jsonObj(fn, 'masterKey', masterKey)]);
  }

  // -- explicit encryption ----------------------------------------------------------------------

  /** Encrypt one value (CSFLE); `algorithm` is required ('deterministic' leaks equality). Resolves to
   * the BSON binary subtype 6 payload as a Buffer. */
  async encrypt(value, options = {}) {
    const e = encArgs('encrypt', options);
    const ct = await this._call(OP.ENCRYPT, [valueJson('encrypt', 'value', value), ...e]);
    return Buffer.from(JSON.parse(ct).$binary.base64, 'base64');
  }

  /** Decrypt a subtype 6 payload (Buffer or bson Binary) to the value. */
  async decrypt(ciphertext) {
    const ct = ciphertextArg('decrypt', ciphertext);
    const ext = JSON.stringify({ $binary: { base64: ct.toString('base64'), subType: '06' } });
    return JSON.parse(await this._call(OP.DECRYPT, [ext]));
  }

  /** One Extended JSON value in (a string is quoted: '"123-45-6789"'); the ciphertext as canonical Extended JSON. */
  async encryptJson(valueJson, options = {}) {
    const e = encArgs('encryptJson', options);
    return this._call(OP.ENCRYPT, [cstr('encryptJson', 'valueJson', valueJson), ...e]);
  }

  /** A ciphertext as Extended JSON in; the value as Extended JSON text out. */
  async decryptJson(ciphertextJson, { canonical = false } = {}) {
    return this._call(OP.DECRYPT_JSON, [cstr('decryptJson', 'ciphertextJson', ciphertextJson)],
                      [boolean('decryptJson', 'canonical', canonical) ? 1 : 0]);
  }

  /** BSON {v: value} in, BSON {v: BinData(6, ...)} out (Buffers). */
  async encryptBson(valueDoc, options = {}) {
    if (!Buffer.isBuffer(valueDoc)) throw new TypeError(`encryptBson(): valueDoc must be a Buffer (BSON of {v: value}), not ${kind(valueDoc)}`);
    return this._call(OP.ENCRYPT_BSON, [valueDoc, ...encArgs('encryptBson', options)]);
  }

  /** BSON {v: BinData(6, ...)} in, BSON {v: value} out (Buffers). */
  async decryptBson(ciphertextDoc) {
    if (!Buffer.isBuffer(ciphertextDoc)) throw new TypeError(`decryptBson(): ciphertextDoc must be a Buffer (BSON), not ${kind(ciphertextDoc)}`);
    return this._call(OP.DECRYPT_BSON, [ciphertextDoc]);
  }

  // -- automatic encryption ---------------------------------------------------------------------

  /** Encrypt a MongoDB command per the schema map (no mongocryptd); resolves to the command to send,
   * as an object in canonical Extended JSON form (EJSON.deserialize gives the driver's types); text
   * in gives text out, BSON (a Buffer) in gives BSON out. */
  async encryptCommand(db, command) {
    cstr('encryptCommand', 'db', db);
    const c = docArg('encryptCommand', 'command', command);
    return docOut(command, await this._call(OP.ENCRYPT_COMMAND, [db, c]));
  }

  /** What automatic encryption would do: {ok, fields: [...]} or {ok: false, error}. */
  async analyzeCommand(db, command) {
    cstr('analyzeCommand', 'db', db);
    const c = docArg('analyzeCommand', 'command', command);
    return docOut(command, await this._call(OP.ANALYZE_COMMAND, [db, c]));
  }

  /** The document as it would be inserted into `ns` ("db.collection"), encrypted per the schema map. */
  async encryptDocument(ns, document) {
    cstr('encryptDocument', 'ns', ns);
    const d = docArg('encryptDocument', 'document', document);
    return docOut(document, await this._call(OP.ENCRYPT_DOCUMENT, [ns, d]));
  }

  /** Decrypt every encrypted value of a document (a reply, a found document), at any depth;
   * resolves to relaxed Extended JSON form. With `access` configured: AccessDenied (use decryptDocumentAs). */
  async decryptDocument(document) {
    const d = docArg('decryptDocument', 'document', document);
    return docOut(document, await this._call(OP.DECRYPT_DOCUMENT, [d]));
  }

  // -- minimum necessary and audit ----------------------------------------------------------------

  /** decryptDocument for a session {actor, role, purpose, subject?}: only the fields the role may see
   * in `ns` (or null); audited when the configuration has an audit log. */
  async decryptDocumentAs(session, ns, document) {
    const fn = 'decryptDocumentAs';
    const s = sessionArgs(fn, session);
    const d = docArg(fn, 'document', document);
    return docOut(document, await this._call(OP.DECRYPT_DOCUMENT_AS, [...s, nsArg(fn, ns), d]));
  }

  /** decrypt() of the value of `field` (a path), checked against the session's rules; audited. */
  async decryptAs(session, ns, field, ciphertext) {
    const fn = 'decryptAs';
    const s = sessionArgs(fn, session);
    const a = [...s, nsArg(fn, ns), cstr(fn, 'field', field), ctJson(ciphertextArg(fn, ciphertext))];
    return JSON.parse(await this._call(OP.DECRYPT_AS, a)).v;
  }

  /** detokenize() of a token of `field`: the role must see the field and may use the keyring key. */
  async detokenizeAs(session, ns, field, keyName, token, options = {}) {
    const fn = 'detokenizeAs';
    const s = sessionArgs(fn, session);
    const [t, version] = tokenArgs(fn, options);
    return this._call(OP.DETOKENIZE_AS, [...s, nsArg(fn, ns), cstr(fn, 'field', field), cstr(fn, 'keyName', keyName),
                                         textArg(fn, 'token', token), ...t], [version]);
  }

  /** reidentifyFile() for a session: restores only the fields the role may see; the output appears
   * only once its audit line is written. Resolves to the report (reid_fields, withheld_fields). */
  async reidentifyFileAs(session, ns, policy, inPath, outPath, options = {}) {
    const fn = 'reidentifyFileAs';
    const s = sessionArgs(fn, session);
    const n = nsArg(fn, ns);
    const [format, nums, progress] = deidNums(fn, options);
    const a = [...s, n, policyText(fn, policy), cstr(fn, 'inPath', inPath), cstr(fn, 'outPath', outPath), format];
    return JSON.parse(await this._call(OP.REID_FILE_AS, a, nums, progress));
  }

  /** Whether `session` may decrypt `field` of `ns` (nothing is decrypted). */
  async accessAllowed(session, ns, field) {
    const fn = 'accessAllowed';
    return this._call(OP.ACCESS_CHECK, [...sessionArgs(fn, session), nsArg(fn, ns), cstr(fn, 'field', field)]);
  }

  /** Check the hash chain of an audit log (default: the configured one): "intact: N lines", else
   * AuthenticationError (edited, removed, reordered, forged) or BadData (a torn line). */
  async auditVerify(path = null) { return this._call(OP.AUDIT_VERIFY, [ocstr('auditVerify', 'path', path)]); }

  /** Accounting of disclosures for one patient: {subject, disclosures: [...]}. */
  async auditDisclosures(subjectValue, sinceMs = 0) {
    const fn = 'auditDisclosures';
    return JSON.parse(await this._call(OP.AUDIT_DISCLOSURES, [cstr(fn, 'subjectValue', subjectValue)],
                                       [integer(fn, 'sinceMs', sinceMs, 0, Number.MAX_SAFE_INTEGER)]));
  }

  /** The pseudonymous subject id ("sub1.<hex>") the audit log records for a patient. */
  async auditSubjectId(subjectValue) { return this._call(OP.AUDIT_SUBJECT_ID, [cstr('auditSubjectId', 'subjectValue', subjectValue)]); }

  // -- de-identification --------------------------------------------------------------------------

  /** De-identify a file (JSON lines, JSON array, BSON, CSV) with a policy into outPath (atomic);
   * resolves to the report. The file work runs on the thread pool; `progress(records, bytesDone,
   * bytesTotal)` is called on the main thread (at most ten times a second, plus the first and the
   * last), every call before the promise settles; an exception it throws is ignored. */
  async deidentifyFile(policy, inPath, outPath, options = {}) {
    return this._deid(OP.DEID_FILE, 'deidentifyFile', policy, inPath, outPath, options);
  }

  /** Reverse the reversible actions (tokens, ciphertexts) of deidentifyFile. */
  async reidentifyFile(policy, inPath, outPath, options = {}) {
    return this._deid(OP.REID_FILE, 'reidentifyFile', policy, inPath, outPath, options);
  }

  /** De-identify one JSON document (a line of a JSON-lines export): JSON text in, text out; an
   * object in, an object out. */
  async deidentifyJson(policy, document) {
    const fn = 'deidentifyJson';
    const text = policyText(fn, policy);
    const d = typeof document === 'string' || Buffer.isBuffer(document) ? document : docArg(fn, 'document', document);
    const out = await this._call(OP.DEID_JSON, [text, d]);
    return typeof document === 'string' || Buffer.isBuffer(document) ? out : JSON.parse(out);
  }

  async _deid(op, fn, policy, inPath, outPath, options) {
    const [format, nums, progress] = deidNums(fn, options);
    const a = [policyText(fn, policy), cstr(fn, 'inPath', inPath), cstr(fn, 'outPath', outPath), format];
    return JSON.parse(await this._call(op, a, nums, progress));
  }

  // -- keyring, tokens, pseudonyms ------------------------------------------------------------------

  /** Create a keyring key: 'ff1' (format-preserving), 'siv' (opaque tokens), 'hmac' (pseudonyms). */
  async createTokenKey(name, algorithm = 'ff1') {
    cstr('createTokenKey', 'name', name);
    if (!['ff1', 'siv', 'hmac'].includes(algorithm)) throw new TypeError("createTokenKey(): algorithm is 'ff1', 'siv' or 'hmac'");
    return this._call(OP.CREATE_TOKEN_KEY, [name, algorithm]);
  }

  /** Add a primary version to a keyring key; resolves to its number. */
  async rotateTokenKey(name) { return this._call(OP.KEYRING_ROTATE, [cstr('rotateTokenKey', 'name', name)]); }

  /** Stop using a version for new tokens (it still reverses old ones). */
  async retireTokenKey(name, version) {
    return this._call(OP.KEYRING_RETIRE, [cstr('retireTokenKey', 'name', name)],
                      [integer('retireTokenKey', 'version', version, 0, UINT32_MAX)]);
  }

  /** Destroy one version, or with 0 the whole key (crypto-shredding). */
  async destroyTokenKey(name, version) {
    return this._call(OP.KEYRING_DESTROY, [cstr('destroyTokenKey', 'name', name)],
                      [integer('destroyTokenKey', 'version', version, 0, UINT32_MAX)]);
  }

  /** Keyring keys (no material). */
  async listTokenKeys() { return JSON.parse(await this._call(OP.KEYRING_LIST, [])).keys; }

  /** A deterministic reversible token: FF1 formats ('ssn', 'digits', ...) or 'siv' (default). */
  async tokenize(keyName, value, options = {}) {
    const [t, version] = tokenArgs('tokenize', options);
    return this._call(OP.TOKENIZE, [cstr('tokenize', 'keyName', keyName), textArg('tokenize', 'value', value, VALUE_HINT), ...t],
                      [version]);
  }

  /** Reverse tokenize() (same key, format, context; FF1 needs the version that made it). */
  async detokenize(keyName, token, options = {}) {
    const [t, version] = tokenArgs('detokenize', options);
    return this._call(OP.DETOKENIZE, [cstr('detokenize', 'keyName', keyName), textArg('detokenize', 'token', token), ...t],
                      [version]);
  }

  /** A one-way pseudonym ps1.<version>.<base32> (HMAC-SHA256, per-context subkey). */
  async pseudonymize(keyName, value, { context, normalize = 0, length = 0, keyVersion = 0 } = {}) {
    const fn = 'pseudonymize';
    return this._call(OP.PSEUDONYMIZE, [cstr(fn, 'keyName', keyName), textArg(fn, 'value', value, VALUE_HINT),
                                        ocstr(fn, 'context', context)],
                      [integer(fn, 'normalize', normalize, 0, 7), integer(fn, 'length', length, 0, 1 << 16),
                       integer(fn, 'keyVersion', keyVersion, 0, UINT32_MAX)]);
  }

  /** Whether `pseudonym` is the pseudonym of `value` (constant-time check). */
  async verifyPseudonym(keyName, value, pseudonym, { context, normalize = 0, length = 0 } = {}) {
    const fn = 'verifyPseudonym';
    return this._call(OP.PSEUDONYM_VERIFY, [cstr(fn, 'keyName', keyName), textArg(fn, 'value', value, VALUE_HINT),
                                            cstr(fn, 'pseudonym', pseudonym), ocstr(fn, 'context', context)],
                      [integer(fn, 'normalize', normalize, 0, 7), integer(fn, 'length', length, 0, 1 << 16)]);
  }

  _call(op, args, nums = [], progress = undefined) {
    let p;
    try { p = this._n.call(op, args, nums, progress); } catch (e) { return Promise.reject(toError(e)); }
    return settle(p);
  }
}

// Stand-alone FF1 (NIST SP 800-38G) with a raw AES key: symbols are bytes, so string arguments
// must be Latin-1 (one byte per character); a string text gives a string, a Buffer a Buffer.
function latin1(fn, name, v) {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v !== 'string') throw new TypeError(`${fn}(): ${name} must be a string (Latin-1) or Buffer, not ${kind(v)}`);
  if (/[^\x01-\xff]/.test(v)) throw new TypeError(`${fn}(): ${name} symbols are single bytes (Latin-1, no NUL)`);
  return Buffer.from(v, 'latin1');
}
async function ff1(encrypt, fn, key, tweak, alphabet, text) {
  if (!Buffer.isBuffer(key) || ![16, 24, 32].includes(key.length))
    throw new TypeError(`${fn}(): key must be a Buffer of 16, 24 or 32 raw key bytes`);
  if (!Buffer.isBuffer(tweak)) throw new TypeError(`${fn}(): tweak must be a Buffer, not ${kind(tweak)}`);
  const a = latin1(fn, 'alphabet', alphabet);
  const t = latin1(fn, 'text', text);
  if (a.includes(0) || t.includes(0)) throw new TypeError(`${fn}(): alphabet and text must not contain NUL`);
  let p;
  try { p = addon.ff1(encrypt, key, tweak, Buffer.concat([a, Buffer.from([0])]), t); } catch (e) { throw toError(e); }
  const out = await settle(p);
  return typeof text === 'string' ? out.toString('latin1') : out;
}

module.exports = {
  ff1Encrypt(key, tweak, alphabet, text) { return ff1(true, 'ff1Encrypt', key, tweak, alphabet, text); },
  ff1Decrypt(key, tweak, alphabet, text) { return ff1(false, 'ff1Decrypt', key, tweak, alphabet, text); },
  Client, ...errors, version: addon.version, mongocryptVersion: addon.mongocryptVersion,
  strerror(code) { integer('strerror', 'code', code, -(2 ** 31), 2 ** 31 - 1); return addon.strerror(code); },
  NORM_TRIM, NORM_CASEFOLD, NORM_COLLAPSE,
  createLocalKeyFile(p) { need('createLocalKeyFile', 'path', p, 'string'); try { addon.createLocalKeyFile(p); } catch (e) { throw toError(e); } },
};
