/// <reference types="node" />
// phicrypt for Node.js: types of the N-API binding (see index.js).

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type Config = string | Record<string, unknown>;

export interface EncryptOptions {
  /** Required: 'deterministic' (equal values give equal ciphertexts) or 'random'. */
  algorithm: 'deterministic' | 'random';
  /** Exactly one of keyAltName and keyId. */
  keyAltName?: string;
  /** 16 bytes, or a bson Binary subtype 4. */
  keyId?: KeyId;
}

/** A key id: 16 bytes, or a bson Binary subtype 4 (what the driver gives). */
export type KeyId = Buffer | { _bsontype: 'Binary'; sub_type: number };
/** A ciphertext: the Buffer encrypt() returned, or a bson Binary subtype 6. */
export type Ciphertext = Buffer | { _bsontype: 'Binary'; sub_type: number };
/** A document: an object in Extended JSON form (result: object), Extended JSON text (result: text),
 * or BSON bytes (result: BSON bytes). */
export type Doc = Record<string, unknown> | string | Buffer;
export type DocResult<D> = D extends string ? string : D extends Buffer ? Buffer : Record<string, unknown>;
/** A value: JSON values, plus Buffer/Uint8Array (binary), Date, bigint (int64), bson Binary. */
export type Value = Json | Buffer | Uint8Array | Date | bigint | Value[] | { [key: string]: Value };
export type Policy = Record<string, unknown> | string;

export interface DataKeyOptions {
  keyAltName?: string;
  keyAltNames?: string[];
  /** The provider's master key document (not for 'local'). */
  masterKey?: Record<string, unknown>;
  /** 96 bytes of custom key material (default: random). */
  keyMaterial?: Buffer;
}
export interface DeidOptions {
  threads?: number;
  format?: 'auto' | 'jsonl' | 'json' | 'bson' | 'csv';
  /** Skip malformed and oversized records and list them in the report. */
  skipBad?: boolean;
  /** Called on the main thread (at most ten times a second, plus the first and the last), every
   * call before the promise settles; an exception it throws is ignored. */
  progress?: (records: number, bytesDone: number, bytesTotal: number) => void;
}
export interface Session { actor: string; role: string; purpose: string; subject?: string; }
export interface TokenOptions { format?: string; context?: string; alphabet?: string; keyVersion?: number; }
export interface PseudonymOptions { context?: string; normalize?: number; length?: number; keyVersion?: number; }

export class Client {
  static open(config: Config): Promise<Client>;
  close(): void;
  // data keys
  createDataKey(provider?: string, options?: DataKeyOptions): Promise<Buffer>;
  getDataKey(keyId: KeyId | null, options?: { keyAltName?: string }): Promise<Record<string, unknown>>;
  listDataKeys(): Promise<Record<string, unknown>[]>;
  deleteDataKey(keyId: KeyId): Promise<void>;
  addKeyAltName(keyId: KeyId, altName: string): Promise<void>;
  removeKeyAltName(keyId: KeyId, altName: string): Promise<void>;
  keyIdByAltName(altName: string): Promise<Buffer>;
  rewrapDataKeys(filter?: Record<string, unknown> | null,
                 options?: { provider?: string; masterKey?: Record<string, unknown> }): Promise<number>;
  // explicit encryption
  encrypt(value: Value, options: EncryptOptions): Promise<Buffer>;
  decrypt(ciphertext: Ciphertext): Promise<Json>;
  encryptJson(valueJson: string, options: EncryptOptions): Promise<string>;
  decryptJson(ciphertextJson: string, options?: { canonical?: boolean }): Promise<string>;
  encryptBson(valueDoc: Buffer, options: EncryptOptions): Promise<Buffer>;
  decryptBson(ciphertextDoc: Buffer): Promise<Buffer>;
  // automatic encryption
  encryptCommand<D extends Doc>(db: string, command: D): Promise<DocResult<D>>;
  analyzeCommand<D extends Doc>(db: string, command: D): Promise<DocResult<D>>;
  encryptDocument<D extends Doc>(ns: string, document: D): Promise<DocResult<D>>;
  decryptDocument<D extends Doc>(document: D): Promise<DocResult<D>>;
  // minimum necessary and audit
  decryptDocumentAs<D extends Doc>(session: Session, ns: string | null, document: D): Promise<DocResult<D>>;
  decryptAs(session: Session, ns: string | null, field: string, ciphertext: Ciphertext): Promise<Json>;
  detokenizeAs(session: Session, ns: string | null, field: string, keyName: string, token: string | Buffer,
               options?: TokenOptions): Promise<string>;
  reidentifyFileAs(session: Session, ns: string | null, policy: Policy, inPath: string, outPath: string,
                   options?: DeidOptions): Promise<Record<string, unknown>>;
  accessAllowed(session: Session, ns: string | null, field: string): Promise<boolean>;
  auditVerify(path?: string | null): Promise<string>;
  auditDisclosures(subjectValue: string, sinceMs?: number): Promise<{ subject: string; disclosures: Record<string, unknown>[] }>;
  auditSubjectId(subjectValue: string): Promise<string>;
  // de-identification
  deidentifyFile(policy: Policy, inPath: string, outPath: string, options?: DeidOptions): Promise<Record<string, unknown>>;
  reidentifyFile(policy: Policy, inPath: string, outPath: string, options?: DeidOptions): Promise<Record<string, unknown>>;
  deidentifyJson(policy: Policy, document: string): Promise<string>;
  deidentifyJson(policy: Policy, document: Record<string, unknown>): Promise<Record<string, unknown>>;
  // keyring, tokens, pseudonyms
  createTokenKey(name: string, algorithm?: 'ff1' | 'siv' | 'hmac'): Promise<void>;
  rotateTokenKey(name: string): Promise<number>;
  retireTokenKey(name: string, version: number): Promise<void>;
  destroyTokenKey(name: string, version: number): Promise<void>;
  listTokenKeys(): Promise<Record<string, unknown>[]>;
  tokenize(keyName: string, value: string | Buffer, options?: TokenOptions): Promise<string>;
  detokenize(keyName: string, token: string | Buffer, options?: TokenOptions): Promise<string>;
  pseudonymize(keyName: string, value: string | Buffer, options?: PseudonymOptions): Promise<string>;
  verifyPseudonym(keyName: string, value: string | Buffer, pseudonym: string,
                  options?: Omit<PseudonymOptions, 'keyVersion'>): Promise<boolean>;
}

export class PhicryptError extends Error { code: number; }
export class InvalidArgument extends PhicryptError {}
export class BadData extends PhicryptError {}
export class SchemaError extends PhicryptError {}
export class KeyNotFound extends PhicryptError {}
export class KeyVaultError extends PhicryptError {}
export class KmsError extends PhicryptError {}
export class KmsAuthError extends PhicryptError {}
export class OperationTimeout extends PhicryptError {}
export class AuthenticationError extends PhicryptError {}
export class AccessDenied extends PhicryptError {}
export class OutOfMemory extends PhicryptError {}
export class BufferTooSmall extends PhicryptError {}
export class ConfigError extends PhicryptError {}
export class FileIOError extends PhicryptError {}
export class AlreadyExists extends PhicryptError {}
export class Unsupported extends PhicryptError {}
export class InternalError extends PhicryptError {}

export function version(): string;
/** Stand-alone FF1 (NIST SP 800-38G) with a raw AES key (16, 24 or 32 bytes); strings are Latin-1
 * (one byte per symbol); a string text gives a string, a Buffer a Buffer. */
export function ff1Encrypt<T extends string | Buffer>(key: Buffer, tweak: Buffer, alphabet: string | Buffer, text: T): Promise<T>;
export function ff1Decrypt<T extends string | Buffer>(key: Buffer, tweak: Buffer, alphabet: string | Buffer, text: T): Promise<T>;
export function mongocryptVersion(): string;
export const NORM_TRIM: 1;
export const NORM_CASEFOLD: 2;
export const NORM_COLLAPSE: 4;
export function strerror(code: number): string;
export function createLocalKeyFile(path: string): void;
