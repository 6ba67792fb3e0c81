import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/registry/redact.js';

describe('redactSecrets', () => {
  it('removes Authorization values, JWTs and token or password fields, and keeps the rest', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    expect(redactSecrets(`denied for Bearer ${jwt}`)).toBe('denied for Bearer [redacted]');
    expect(redactSecrets('bad header Basic YWxpY2U6aHVudGVyMg==, try again')).toBe('bad header Basic [redacted], try again');
    expect(redactSecrets(`token ${jwt} expired`)).toBe('token [redacted] expired');
    expect(redactSecrets('{"token":"abc123","expires_in":60}')).toBe('{"token":"[redacted]","expires_in":60}');
    expect(redactSecrets('password=hunter2; user=alice')).toBe('password=[redacted]; user=alice');
    expect(redactSecrets('refresh_token: r3fr3sh')).toBe('refresh_token: [redacted]');
    expect(redactSecrets('blob unknown to registry')).toBe('blob unknown to registry');
  });
});
