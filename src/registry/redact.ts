/** Credentials a registry or token server may echo back in an error: Authorization values, JWTs, token and password fields. */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){1,2}/g, '[redacted]'],
  [/((?:access_|refresh_|identity)?token|password|secret)("?\s*[:=]\s*"?)[^"\s,;}]+/gi, '$1$2[redacted]'],
];

/** Removes anything credential-like from text that came from the other side, before it reaches a message. */
export function redactSecrets(text: string): string {
  return SECRET_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}
