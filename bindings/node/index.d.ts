/// <reference types="node" />
// phicrypt for Node.js: types of the N-API binding (see index.js).

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type Config = string | Record<string, unknown>;

export interface EncryptOptions {
  /** Required: 'deterministic' (equal values give equal ciphertexts) or 'random'. */
  algorithm: 'deterministic' | 'random';
  keyAltName?: string;
  keyId?: Buffer;
}

export interface DeidOptions { threads?: number; format?: 'auto' | 'jsonl' | 'json' | 'bson' | 'csv'; }
export interface Session { actor: string; role: string; purpose: string; subject?: string; }
export interface TokenOptions { format?: string; context?: string; keyVersion?: number; }

export class Client {
  static open(config: Config): Promise<Client>;
  close(): void;
  createDataKey(provider?: string, options?: { keyAltName?: string }): Promise<Buffer>;
  encrypt(value: Json, options: EncryptOptions): Promise<Buffer>;
  decrypt(ciphertext: Buffer): Promise<Json>;
  encryptCommand(db: string, command: Record<string, unknown> | string): Promise<Record<string, unknown>>;
  encryptDocument(ns: string, document: Record<string, unknown> | string): Promise<Record<string, unknown>>;
  decryptDocument(document: Record<string, unknown> | string): Promise<Record<string, unknown>>;
  deidentifyFile(policy: Record<string, unknown> | string, inPath: string, outPath: string,
                 options?: DeidOptions): Promise<Record<string, unknown>>;
  reidentifyFile(policy: Record<string, unknown> | string, inPath: string, outPath: string,
                 options?: DeidOptions): Promise<Record<string, unknown>>;
  decryptDocumentAs(session: Session, ns: string | null,
                    document: Record<string, unknown> | string): Promise<Record<string, unknown>>;
  createTokenKey(name: string, algorithm?: 'ff1' | 'siv' | 'hmac'): Promise<void>;
  tokenize(keyName: string, value: string, options?: TokenOptions): Promise<string>;
  detokenize(keyName: string, token: string, options?: TokenOptions): Promise<string>;
  pseudonymize(keyName: string, value: string, options?: { context?: string }): Promise<string>;
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
export function strerror(code: number): string;
export function createLocalKeyFile(path: string): void;
