import { describe, expect, it } from 'vitest';
import { checkDebugfsOutput, describeDebugfsFailures } from '../../src/ext4/debugfs-output.js';

// Real debugfs 1.47.2 output (stdout and stderr through one file descriptor).
const script = ['mkdir "a"', 'write "/h" "f1"', 'mkdir "a"', 'rm "/nonexistent"', 'set_inode_field "/a/f1" bogus 1', 'set_inode_field "/a" uid 0', ''].join('\n');
const output = [
  'debugfs 1.47.2 (1-Jan-2025)',
  'debugfs: mkdir "a"',
  'debugfs: write "/h" "f1"',
  'Allocated inode: 14',
  'debugfs: mkdir "a"',
  'ext2fs_mkdir: Ext2 directory already exists while creating directory "a"',
  'mkdir: Ext2 directory already exists ',
  'debugfs: rm "/nonexistent"',
  'rm: File not found by ext2_lookup while trying to resolve filename',
  'debugfs: set_inode_field "/a/f1" bogus 1',
  'set_inode_field: invalid field specifier: bogus',
  'debugfs: set_inode_field "/a" uid 0',
  '',
].join('\n');

describe('checkDebugfsOutput', () => {
  it('attributes each error line to the command echoed before it, and lets benign lines pass', () => {
    expect(checkDebugfsOutput(script, output)).toEqual([
      { line: 4, command: 'rm "/nonexistent"', messages: ['rm: File not found by ext2_lookup while trying to resolve filename'] },
      { line: 5, command: 'set_inode_field "/a/f1" bogus 1', messages: ['set_inode_field: invalid field specifier: bogus'] },
    ]);
  });

  it('is clean when every line ran quietly', () => {
    expect(checkDebugfsOutput('mkdir "a"\n', 'debugfs 1.47.2 (1-Jan-2025)\ndebugfs: mkdir "a"\n')).toEqual([]);
  });

  it('tolerates "already exists" for mkdir only', () => {
    const out = 'debugfs: write "/h" "f"\nwrite: Ext2 directory already exists \n';
    expect(checkDebugfsOutput('write "/h" "f"\n', out)).toHaveLength(1);
  });

  it('reports errors printed before any command, e.g. an image it cannot open', () => {
    const out = [
      'debugfs 1.47.2 (1-Jan-2025)',
      'debugfs: Bad magic number in super-block while trying to open img',
      'debugfs: mkdir "a"',
      'mkdir: Filesystem not open',
      '',
    ].join('\n');
    const failures = checkDebugfsOutput('mkdir "a"\n', out);
    expect(failures.map((f) => f.line)).toEqual([0, 1]);
    expect(failures[0]?.messages[0]).toMatch(/Bad magic number/);
  });

  it('catches unknown commands and lines debugfs split or cut', () => {
    const out = ['debugfs: bogus', 'debugfs: Command not found bogus', 'debugfs: symlink "cr" "a', 'debugfs: Unbalanced quotes in command line', ''].join('\n');
    const failures = checkDebugfsOutput('bogus\nsymlink "cr" "a\rb"\n', out);
    expect(failures[0]).toMatchObject({ line: 1, command: 'bogus', messages: ['debugfs: Command not found bogus', 'debugfs: symlink "cr" "a', 'debugfs: Unbalanced quotes in command line'] });
    expect(failures[1]).toMatchObject({ line: 2, messages: [expect.stringMatching(/never ran/)] });
  });

  it('notices when debugfs stopped early', () => {
    expect(checkDebugfsOutput('mkdir "a"\nmkdir "b"\n', 'debugfs: mkdir "a"\n')).toMatchObject([{ line: 2, command: 'mkdir "b"' }]);
  });

  it('summarises failures for an error message', () => {
    const text = describeDebugfsFailures(checkDebugfsOutput(script, output));
    expect(text).toContain('line 4 `rm "/nonexistent"`: rm: File not found');
    expect(text).toContain('line 5');
  });
});
