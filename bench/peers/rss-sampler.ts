// Peak resident memory of the process trees a measurement starts, summed across them, by sampling /proc.
import { readdirSync, readFileSync } from 'node:fs';

const PAGE_BYTES = 4096;

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm may hold spaces and parentheses; fields after the last ')' are fixed: state, ppid, …
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function residentBytes(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE_BYTES;
  } catch {
    return 0;
  }
}

/** Sums RSS over the tracked roots and all their descendants every `intervalMs`; stop() returns the largest sum seen. */
export class RssSampler {
  private readonly roots = new Set<number>();
  private peakBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 100) {}

  track(pid: number | undefined): void {
    if (pid !== undefined) this.roots.add(pid);
  }

  untrack(pid: number | undefined): void {
    if (pid !== undefined) this.roots.delete(pid);
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peakBytes;
  }

  private sample(): void {
    if (this.roots.size === 0) return;
    const children = new Map<number, number[]>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      const parent = parentOf(pid);
      if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
    }
    let total = 0;
    const pending = [...this.roots];
    for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
      total += residentBytes(pid);
      pending.push(...(children.get(pid) ?? []));
    }
    this.peakBytes = Math.max(this.peakBytes, total);
  }
}
