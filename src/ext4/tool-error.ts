/** Maps a failed e2fsprogs run to a RootforgeError from the facts execa reports. Pure. */
import { RootforgeError } from '../errors.js';

export interface ToolRun {
  /** What ran, e.g. "mkfs.ext4". */
  tool: string;
  exitCode?: number;
  signal?: string;
  isCanceled?: boolean;
  /** The tool's stdout and stderr together. */
  output: string;
  /** The spawn error (ENOENT, EACCES) when the tool never started. */
  code?: string;
}

/** Error output is capped so a runaway tool cannot make a megabyte error message. */
const MAX_OUTPUT = 4000;

export function trimOutput(output: string, max = MAX_OUTPUT): string {
  const text = output.trim();
  return text.length <= max ? text : `…${text.slice(text.length - max)}`;
}

export function toolError(run: ToolRun, cause?: unknown): RootforgeError {
  const context = cause === undefined ? {} : { cause };
  if (run.isCanceled) return new RootforgeError('ERR_ABORTED', `${run.tool} was interrupted`, context);
  if (run.code === 'ENOENT' || run.code === 'EACCES') {
    return new RootforgeError('ERR_TOOL_MISSING', `cannot run ${run.tool} (${run.code})`, context);
  }
  const output = trimOutput(run.output);
  const how = run.signal ? `was killed by ${run.signal}` : `exited with ${run.exitCode ?? '?'}`;
  const message = `${run.tool} ${how}${output ? `: ${output}` : ''}`;
  if (/No space left on device|Disk quota exceeded/.test(output)) return new RootforgeError('ERR_NO_SPACE', message, context);
  // libext2fs's wording when the image itself is full: the estimate or --size was too small for the content.
  if (/Could not allocate (block|inode) in ext2 filesystem/.test(output)) {
    return new RootforgeError('ERR_IMAGE_TOO_SMALL', `the image is too small for its content: ${message}`, context);
  }
  if (/you need libarchive/.test(output)) {
    return new RootforgeError('ERR_TOOL_MISSING', message, {
      ...context,
      hint: 'Install libarchive (Debian/Ubuntu: libarchive13, Fedora: libarchive, Alpine: libarchive), or use --populate dir.',
    });
  }
  return new RootforgeError('ERR_TOOL_FAILED', message, context);
}
