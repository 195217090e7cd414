// The quick-approval callback's encryption (reference feishu-api.md §4.3): key = SHA-256 of the
// action_callback_key, AES-256-CBC, PKCS#7 padding, base64(IV ‖ ciphertext). The fake encrypts with
// it, the connector decrypts. Invariant: a body that does not decrypt is an error, never partial text.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CdcError } from '../errors.js';

function keyOf(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function encryptCallback(secret: string, plaintext: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', keyOf(secret), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** The plaintext of an `encrypt` field; throws on a wrong key, bad padding or a short body. */
export function decryptCallback(secret: string, encrypted: string): string {
  const raw = Buffer.from(encrypted, 'base64');
  if (raw.length < 32 || raw.length % 16 !== 0)
    throw new CdcError('HTTP_REQUEST', 'encrypted body has a wrong length');
  const decipher = createDecipheriv('aes-256-cbc', keyOf(secret), raw.subarray(0, 16));
  return Buffer.concat([decipher.update(raw.subarray(16)), decipher.final()]).toString('utf8');
}
