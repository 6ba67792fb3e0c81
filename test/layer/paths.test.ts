import { describe, expect, it } from 'vitest';
import { checkSymlinkTarget, normalizeEntryPath, pathComponents } from '../../src/layer/paths.js';

describe('normalizeEntryPath', () => {
  it.each([
    ['etc/passwd', 'etc/passwd'],
    ['/etc/passwd', 'etc/passwd'],
    ['///etc//passwd', 'etc/passwd'],
    ['./etc/./passwd', 'etc/passwd'],
    ['etc/', 'etc'],
    ['./', ''],
    ['.', ''],
    ['/', ''],
    ['a/b/../c', 'a/c'],
    ['a/..', ''],
    ['/x', 'x'],
    ['ünïcødé/名前', 'ünïcødé/名前'],
    ['back\\slash', 'back\\slash'],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeEntryPath(input)).toBe(expected);
  });

  it.each(['..', '../x', '/../etc', 'a/../../b', './..', 'a/b/../../..'])('refuses %j, which climbs above the root', (input) => {
    expect(() => normalizeEntryPath(input)).toThrow(expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }));
  });

  it('refuses NUL', () => {
    expect(() => pathComponents('a\0b')).toThrow(expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }));
  });
});

describe('checkSymlinkTarget', () => {
  it('keeps targets verbatim, absolute and climbing ones too', () => {
    expect(checkSymlinkTarget('/usr/lib/../bin//x')).toBe('/usr/lib/../bin//x');
    expect(checkSymlinkTarget('../../../../etc')).toBe('../../../../etc');
  });

  it('refuses NUL and empty targets', () => {
    expect(() => checkSymlinkTarget('a\0')).toThrow(expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }));
    expect(() => checkSymlinkTarget('')).toThrow(expect.objectContaining({ code: 'ERR_BAD_LAYER' }));
  });
});
