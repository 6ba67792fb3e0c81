// Runs one benchmarked process with its tree's memory tracked, failing loudly with its stderr.
import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RssSampler } from './rss-sampler.js';

export interface RunOptions {
  env?: Record<string, string>;
  /** 'ignore', an open file descriptor, or another child's stdout (passed as an fd, so no byte goes through node). */
  stdin?: 'ignore' | number | Readable;
  /** Keep stdout as a pipe the caller reads or hands on, or send it to /dev/null; otherwise it is collected. */
  stdout?: 'pipe' | 'discard' | 'collect';
  sampler?: RssSampler;
}

export interface Running {
  stdout: Readable;
  /** Resolves with the collected stdout and when the process exited; rejects on a non-zero exit. */
  done: Promise<{ stdout: string; exitedAt: number }>;
}

/** node's spawn, not execa: a child's stdout must be handed to the next child as a raw pipe, like a shell does. */
export function start(file: string, args: string[], options: RunOptions = {}): Running {
  const stdio: StdioOptions = [options.stdin ?? 'ignore', options.stdout === 'discard' ? 'ignore' : 'pipe', 'pipe'];
  const child = spawn(file, args, { stdio, env: { ...process.env, ...options.env } });
  options.sampler?.track(child.pid);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  if ((options.stdout ?? 'collect') === 'collect') child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
  const done = new Promise<{ stdout: string; exitedAt: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const exitedAt = performance.now();
      options.sampler?.untrack(child.pid);
      if (code === 0) resolve({ stdout: Buffer.concat(out).toString('utf8'), exitedAt });
      else reject(new Error(`${file} ${args.join(' ')} exited ${code ?? signal}:\n${Buffer.concat(err).toString('utf8').slice(-3000)}`));
    });
  });
  return { stdout: child.stdout as Readable, done };
}

/** Runs to completion; returns stdout and seconds taken. */
export async function run(file: string, args: string[], options: RunOptions = {}): Promise<{ stdout: string; seconds: number }> {
  const started = performance.now();
  const { stdout } = await start(file, args, options).done;
  return { stdout, seconds: (performance.now() - started) / 1000 };
}
