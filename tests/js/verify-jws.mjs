// Verifies a JWS compact token against a JWKS with Node's own crypto module, independently of
// licet's code. Usage: node verify-jws.mjs JWKS_FILE TOKEN
// Prints the claims as JSON and exits 0 when the signature is valid; exits 1 otherwise.
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [jwksFile, token] = process.argv.slice(2);
const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
const [headerB64, payloadB64, signatureB64] = token.split('.');
const header = JSON.parse(Buffer.from(headerB64, 'base64url').toString('utf8'));
if (header.alg !== 'RS256') {
  console.error(`unexpected alg ${header.alg}`);
  process.exit(1);
}
const jwk = jwks.keys.find((k) => k.kid === header.kid);
if (!jwk) {
  console.error(`no key ${header.kid}`);
  process.exit(1);
}
const key = createPublicKey({ key: jwk, format: 'jwk' });
const ok = verify('RSA-SHA256', Buffer.from(`${headerB64}.${payloadB64}`), key, Buffer.from(signatureB64, 'base64url'));
if (!ok) {
  console.error('signature invalid');
  process.exit(1);
}
process.stdout.write(Buffer.from(payloadB64, 'base64url').toString('utf8'));
