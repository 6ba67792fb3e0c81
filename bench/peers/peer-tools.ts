// Finds the peer tools, builds crane once from the Debian Go sources, and records every tool's version.
import { access, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { defaultTool } from '../../src/ext4/tools.js';

export interface PeerTools {
  skopeo: string;
  umoci: string;
  crane: string;
  mkfs: string;
  versions: Record<string, string>;
}

// Outside the repo and outside the suite's work dir, which is removed after every run.
const CRANE = process.env.ROOTFORGE_BENCH_CRANE ?? '/var/tmp/rootforge-bench-tools/crane';
const CRANE_PACKAGE = 'golang-github-google-go-containerregistry-dev';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function firstLine(file: string, args: string[]): Promise<string> {
  const result = await execa(file, args, { reject: false, all: true });
  return String(result.all ?? '').split('\n')[0]?.trim() ?? '';
}

/** crane from Debian's GOPATH sources, offline; built into a temp name and renamed so a half-built binary is never used. */
async function ensureCrane(): Promise<string> {
  if (await exists(CRANE)) return CRANE;
  await mkdir(dirname(CRANE), { recursive: true });
  const temp = `${CRANE}.${process.pid}.tmp`;
  console.error(`building crane into ${CRANE} (once) …`);
  await execa('go', ['build', '-o', temp, 'github.com/google/go-containerregistry/cmd/crane'], {
    env: { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' },
    stdio: 'inherit',
  }).catch((error: unknown) => {
    throw new Error(`cannot build crane; install golang-go and ${CRANE_PACKAGE}`, { cause: error });
  });
  await rename(temp, CRANE);
  return CRANE;
}

export async function findPeerTools(): Promise<PeerTools> {
  for (const tool of ['skopeo', 'umoci', 'zstd', 'gzip', 'sha256sum', 'tar']) {
    if ((await execa('which', [tool], { reject: false })).exitCode !== 0) throw new Error(`${tool} is missing (apt-get install skopeo umoci zstd)`);
  }
  const crane = await ensureCrane();
  const mkfs = await defaultTool('mkfs.ext4');
  const craneSource = await execa('dpkg-query', ['-W', '-f', '${Version}', CRANE_PACKAGE], { reject: false });
  return {
    skopeo: 'skopeo',
    umoci: 'umoci',
    crane,
    mkfs,
    versions: {
      node: process.version,
      skopeo: await firstLine('skopeo', ['--version']),
      umoci: await firstLine('umoci', ['--version']),
      crane: `go-containerregistry ${craneSource.stdout || 'unknown'} (Debian ${CRANE_PACKAGE})`,
      e2fsprogs: await firstLine(mkfs, ['-V']),
      registry: await firstLine(process.env.ROOTFORGE_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry', ['--version']),
      zstd: await firstLine('zstd', ['--version']),
      gzip: await firstLine('gzip', ['--version']),
    },
  };
}
