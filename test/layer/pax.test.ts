import { describe, expect, it } from 'vitest';
import { decodePaxRecords, encodePaxRecords, xattrsFromPax } from '../../src/layer/pax.js';

describe('PAX records', () => {
  it('round-trips binary values byte for byte', () => {
    const binary = Buffer.from([0x00, 0x01, 0x80, 0xff, 0x0a, 0x3d, 0x20, 0xc3]);
    const encoded = encodePaxRecords([
      ['path', Buffer.from('ünïcødé/x')],
      ['SCHILY.xattr.security.capability', binary],
    ]);
    const decoded = decodePaxRecords(encoded);
    expect(decoded.get('path')!.toString()).toBe('ünïcødé/x');
    expect(decoded.get('SCHILY.xattr.security.capability')).toEqual(binary);
  });

  it('counts the length prefix\'s own digits, across a digit boundary', () => {
    for (let n = 80; n < 120; n++) {
      const value = Buffer.alloc(n, 0x61);
      const encoded = encodePaxRecords([['k', value]]);
      expect(Number(encoded.toString().split(' ')[0])).toBe(encoded.length);
      expect(decodePaxRecords(encoded).get('k')).toEqual(value);
    }
  });

  it('stops at a malformed record instead of reading past it', () => {
    const good = encodePaxRecords([['a', Buffer.from('1')]]);
    expect([...decodePaxRecords(Buffer.concat([good, Buffer.from('99 b=2\n')])).keys()]).toEqual(['a']);
    expect(decodePaxRecords(Buffer.from('garbage')).size).toBe(0);
  });

  it('picks out SCHILY.xattr records', () => {
    const records = new Map([
      ['SCHILY.xattr.user.a', Buffer.from('1')],
      ['SCHILY.xattr.', Buffer.from('nameless')],
      ['path', Buffer.from('x')],
    ]);
    expect(xattrsFromPax(records)).toEqual({ 'user.a': Buffer.from('1') });
    expect(xattrsFromPax(new Map())).toBeUndefined();
  });
});
