// HS256 tokens for the --jwt-secret tests.

import jwt from 'jsonwebtoken';

export const JWT_SECRET = 'e2e-test-secret-0123456789abcdef';

/** Sign an HS256 token (default 1 h validity). */
export function signToken(claims, { secret = JWT_SECRET, expiresIn = '1h', algorithm = 'HS256' } = {}) {
  return jwt.sign(claims, secret, { algorithm, expiresIn });
}

/** A token that expired `secondsAgo` seconds ago. */
export function expiredToken(claims, { secret = JWT_SECRET, secondsAgo = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ ...claims, iat: now - secondsAgo - 60, exp: now - secondsAgo }, secret, { algorithm: 'HS256' });
}

/** An unsigned token ("alg": "none"). */
export function unsignedToken(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...claims, iat: now, exp: now + 3600 })}.`;
}
