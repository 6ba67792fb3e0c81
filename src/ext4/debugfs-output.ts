/** Pure check of what `debugfs -f -` printed (stdout and stderr in one ordered stream) against the script it ran. */

export interface DebugfsFailure {
  /** 1-based line of the script; 0 when debugfs failed before running any command. */
  line: number;
  command: string;
  messages: string[];
}

// debugfs prints its banner on stderr before anything else: "debugfs 1.47.2 (1-Jan-2025)".
const BANNER = /^debugfs \d+\.\d+[^ ]* \([^)]*\)$/;
// write and mknod report the inode they took; nothing else debugfs says about our commands is good news.
const INFO = /^Allocated inode: \d+$/;
// mkdir of a name that exists prints two lines (ext2fs_mkdir's and mkdir's); the caller asked for it to be idempotent.
const MKDIR_EXISTS = /^(ext2fs_mkdir|mkdir): Ext2 directory already exists\b/;

/** The line debugfs echoes before running a script line: comments verbatim, commands after "debugfs: ". */
function echoOf(line: string): string {
  return line.startsWith('#') ? line : `debugfs: ${line}`;
}

function tolerated(command: string, message: string): boolean {
  if (INFO.test(message)) return true;
  return /^mkdir\s/.test(command) && MKDIR_EXISTS.test(message);
}

/** Any line that is not the next echo, the banner or a benign message is an error of the last echoed command: debugfs exits 0 anyway. */
export function checkDebugfsOutput(script: string, output: string): DebugfsFailure[] {
  const lines = script.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const failures: DebugfsFailure[] = [];
  let current = -1;
  let failure: DebugfsFailure | undefined;
  const out = output.split('\n');
  if (out.at(-1) === '') out.pop();
  for (const text of out) {
    const next = lines[current + 1];
    if (next !== undefined && text === echoOf(next)) {
      current += 1;
      failure = undefined;
      continue;
    }
    if (text.trim() === '') continue;
    if (current === -1 && BANNER.test(text)) continue;
    const command = current === -1 ? '(opening the image)' : (lines[current] as string);
    if (tolerated(command, text)) continue;
    if (!failure) {
      failure = { line: current + 1, command, messages: [] };
      failures.push(failure);
    }
    failure.messages.push(text);
  }
  if (current < lines.length - 1) {
    const missing = current + 1;
    failures.push({ line: missing + 1, command: lines[missing] as string, messages: ['debugfs never ran this line (a line too long for its buffer, or it stopped early)'] });
  }
  return failures;
}

/** A short human summary of failures for an error message: the first few commands and what debugfs said. */
export function describeDebugfsFailures(failures: readonly DebugfsFailure[], limit = 5): string {
  const shown = failures.slice(0, limit).map((f) => `line ${f.line} \`${f.command}\`: ${f.messages.join(' / ')}`);
  const more = failures.length > limit ? `; and ${failures.length - limit} more` : '';
  return `${shown.join('; ')}${more}`;
}
