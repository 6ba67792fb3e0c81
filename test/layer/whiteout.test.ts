import { describe, expect, it } from 'vitest';
import { classifyPath } from '../../src/layer/whiteout.js';

describe('classifyPath', () => {
  it('tells ordinary entries, whiteouts, opaque markers and AUFS metadata apart', () => {
    expect(classifyPath([])).toEqual({ role: 'entry' });
    expect(classifyPath(['etc', 'passwd'])).toEqual({ role: 'entry' });
    expect(classifyPath(['etc', '.wh.passwd'])).toEqual({ role: 'whiteout', dir: ['etc'], victim: 'passwd' });
    expect(classifyPath(['.wh..hidden'])).toEqual({ role: 'whiteout', dir: [], victim: '.hidden' });
    expect(classifyPath(['d', '.wh..wh..opq'])).toEqual({ role: 'opaque', dir: ['d'] });
    expect(classifyPath(['.wh..wh.plnk'])).toEqual({ role: 'ignored' });
    expect(classifyPath(['.wh..wh.aufs'])).toEqual({ role: 'ignored' });
    expect(classifyPath(['a.wh.b'])).toEqual({ role: 'entry' });
  });

  it('refuses whiteouts that name nothing, the directory itself, or its parent', () => {
    expect(() => classifyPath(['.wh.'])).toThrow(expect.objectContaining({ code: 'ERR_BAD_LAYER' }));
    expect(() => classifyPath(['d', '.wh..'])).toThrow(expect.objectContaining({ code: 'ERR_BAD_LAYER' }));
    expect(() => classifyPath(['d', '.wh...'])).toThrow(expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }));
    expect(() => classifyPath(['.wh.d', 'x'])).toThrow(expect.objectContaining({ code: 'ERR_BAD_LAYER' }));
  });
});
