import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { RootforgeError, toErrorInfo, withContext } from '../errors.js';
import { deriveIdentity, epochFromCreated } from '../ext4/identity.js';
import { describeOffset, firstDifference } from '../ext4/compare.js';
import { writeFileAtomic, fsyncDir } from '../cache/atomic.js';
import { packageVersion } from '../package-root.js';
import { locationName, type ImageLocation } from '../local/transport.js';
import { countStatuses, describeResolved, type ImageResult } from './image-result.js';
import { mapLimit } from './limit.js';
import type { Stage } from './events.js';
import { planBatch } from './plan-batch.js';
import type { ResolvedImage } from './resolve.js';
import type { ImageSpec } from './image-spec.js';
import type { Shard } from './shard.js';
import { ImageInputs } from './image-inputs.js';
import { cleanStaleWork } from './stale-work.js';
import { cacheRootFor, Session, type SessionOptions } from './session.js';
import { imageConfigSummary, type Sidecar } from './sidecar.js';
import { buildRootfs, type RootfsBuildOptions } from './rootfs.js';
import { choosePopulate, type E2fsTools } from '../ext4/tools.js';
import { forgetE2fsprogs, rememberedE2fsprogs } from '../cache/tools-record.js';
import { findKeptImage, keepImage, placeKeptImage } from '../cache/kept-images.js';
import { syncAndHash } from '../fs/sync-and-hash.js';
import type { UserFileOptions, UserFiles } from '../inject/user-files.js';

export interface BuildOptions extends SessionOptions, RootfsBuildOptions, UserFileOptions {
  /** Images by reference, with the batch-wide options. */
  refs?: string[];
  /** Images with options of their own (a --file batch); they follow `refs`. */
  images?: ImageSpec[];
  /** Build only this slice of the batch. */
  shard?: Shard;
  outDir: string;
  /** Images built at once (replay, mkfs, debugfs). */
  jobs?: number;
  /** Where staging directories and temp files go (default: $TMPDIR). */
  workDir?: string;
  /** Rebuild even when an output from the same manifest and options exists. */
  force?: boolean;
  /** Rebuild into a temp file and compare with the existing output and its sidecar, keeping the output untouched. */
  check?: boolean;
  /** Keep each built image in the cache (a hard link) and copy it out when the same build comes again (default true). */
  imageCache?: boolean;
}

export interface BuildResult {
  images: ImageResult[];
}

/** Builds one ext4 per image into outDir; a failed image never stops the others. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const planned = planBatch([...(options.refs ?? []).map((ref) => ({ ref })), ...(options.images ?? [])], options.shard ? { shard: options.shard } : {});
  // Probing e2fsprogs runs mkfs twice, unless the cache remembers the answer; opening the cache and resolving the first images meanwhile hides it.
  const e2fs = rememberedE2fsprogs(cacheRootFor(options), options.signal).then((tools) => ({ tools, populate: choosePopulate(options.populate, tools) }));
  e2fs.catch(() => undefined);
  const session = await Session.open(options, planned.map((image) => image.location));
  try {
    await mkdir(options.outDir, { recursive: true });
    await cleanStaleWork([options.outDir, options.workDir ?? tmpdir()]);
    const inputs = new ImageInputs(options);
    const started = Date.now();
    session.emit({ type: 'run-start', images: planned.length });
    const images = await mapLimit(planned, options.jobs ?? 2, async (image) => {
      try {
        const effective = await inputs.optionsFor(image.spec);
        return await buildOne(session, effective, { refText: image.spec.ref, location: image.location, name: image.name, e2fs, userFiles: await inputs.userFilesFor(effective) });
      } catch (error) {
        // Inputs of this image (its overlay, inject file or agent) are broken: only it fails.
        const info = toErrorInfo(withContext(error, { image: image.spec.ref }));
        session.emit({ type: 'image-done', image: image.spec.ref, status: 'failed', error: info });
        return { ref: image.spec.ref, status: 'failed', error: info } satisfies ImageResult;
      }
    });
    // A tool that failed where the remembered probe said it would work: probe afresh next time.
    if (images.some((image) => image.error?.code === 'ERR_TOOL_FAILED' || image.error?.code === 'ERR_TOOL_MISSING')) await forgetE2fsprogs(session.layout.root).catch(() => undefined);
    session.emit({ type: 'run-done', ...countStatuses(images), seconds: (Date.now() - started) / 1000 });
    return { images };
  } finally {
    await session.close();
  }
}

interface ImageJob {
  refText: string;
  location: ImageLocation;
  name: string;
  /** The e2fsprogs found and the populate path chosen; awaited once the image is resolved, so the probe overlaps that. */
  e2fs: Promise<{ tools: E2fsTools; populate: 'tar' | 'dir' }>;
  userFiles: UserFiles;
}

async function buildOne(session: Session, options: BuildOptions, job: ImageJob): Promise<ImageResult> {
  const { refText, name } = job;
  const signal = options.signal;
  const result: ImageResult = { ref: refText, status: 'failed' };
  const seconds: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    session.emit({ type: 'stage', image: refText, stage: stage as Stage });
    const started = performance.now();
    try {
      return await fn();
    } finally {
      seconds[stage] = Math.round((performance.now() - started) * 1000) / 1e6;
    }
  };
  session.emit({ type: 'image-start', image: refText });
  const output = resolvePath(options.outDir, `${name}.ext4`);
  const sidecarPath = resolvePath(options.outDir, `${name}.json`);
  const tempImage = join(dirname(output), `.${name}.ext4.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let workDir: string | undefined;
  try {
    signal?.throwIfAborted();
    const canonical = locationName(job.location, refText);
    result.name = canonical;
    const image = await timed('resolve', () => session.resolve(job.location, options.platform, signal));
    Object.assign(result, describeResolved(image));
    // Unusable e2fsprogs fails the image here, before anything is downloaded.
    const { tools, populate } = await job.e2fs;
    await timed('download', () => session.prepareLayers(image, signal, (bytes, totalBytes) => session.emit({ type: 'progress', image: refText, stage: 'download', bytes, totalBytes })));
    // Local images are already on disk; only registry images are recorded as refs in the cache.
    if (job.location.transport === 'docker') await session.layout.setRef(canonical, image.manifestDescriptor);

    const buildKey = computeBuildKey(image, options, populate, job.userFiles);
    if (!options.force && !options.check && (await reusable(output, sidecarPath, buildKey))) {
      result.status = 'skipped';
      result.output = output;
      result.seconds = seconds;
      session.emit({ type: 'image-done', image: refText, status: 'skipped', output, seconds });
      return result;
    }

    const imageCache = options.imageCache !== false && !options.check;
    const kept = imageCache && !options.force ? await findKeptImage<Sidecar>(session.layout.root, buildKey) : undefined;
    const copied = kept && (await timed('copy', () => placeKeptImage(kept, tempImage, signal)));
    if (copied) {
      await publish(tempImage, output, sidecarPath, { ...copied, ref: refText, name: canonical });
      Object.assign(result, { status: 'ok', output, sha256: copied.sha256, reproducible: copied.reproducible, fromCache: true } satisfies Partial<ImageResult>);
      result.seconds = seconds;
      session.emit({ type: 'image-done', image: refText, status: 'ok', output, seconds });
      return result;
    }

    const sourceDateEpoch = options.sourceDateEpoch ?? epochFromCreated(image.config.created);
    const workRoot = options.workDir ?? tmpdir();
    await mkdir(workRoot, { recursive: true });
    workDir = await mkdtemp(join(workRoot, `rootforge-${process.pid}-${randomBytes(4).toString('hex')}-`));
    const layers = image.layers.map((l) => ({ path: session.layout.blobPath(l.diffId), diffId: l.diffId, indexPath: session.layout.layerIndexPath(l.diffId) }));
    const built = await buildRootfs({
      layers,
      imagePath: tempImage,
      workDir,
      populate,
      tools,
      options,
      userFiles: job.userFiles.files,
      identity: { ...deriveIdentity(buildKey, options.uuid), sourceDateEpoch, epochGiven: options.sourceDateEpoch !== undefined },
      signal,
      timed,
      warn: (message) => session.emit({ type: 'warning', image: refText, message }),
    });
    const sidecar = await timed('write', async (): Promise<Sidecar | undefined> => {
      const sha256 = await syncAndHash(tempImage, signal);
      const sidecar: Sidecar = {
        ref: refText,
        name: canonical,
        manifestDigest: image.manifestDigest,
        configDigest: image.configDigest,
        diffIds: image.layers.map((l) => l.diffId),
        platform: image.platform,
        sizeBytes: built.sizeBytes,
        entries: built.entries,
        populate,
        init: built.init,
        injected: built.injected,
        buildKey,
        sha256,
        // The dir path fills the image in the staging directory's readdir order, which no one controls.
        reproducible: populate === 'tar',
        sourceDateEpoch: built.sourceDateEpoch,
        uuid: deriveIdentity(buildKey, options.uuid).uuid,
        config: imageConfigSummary(image),
        rootforgeVersion: packageVersion(),
      };
      result.sha256 = sha256;
      result.reproducible = sidecar.reproducible;
      if (options.check) {
        await checkAgainst(output, sidecarPath, tempImage, sidecar);
        return undefined;
      }
      await publish(tempImage, output, sidecarPath, sidecar);
      return sidecar;
    });
    if (imageCache && sidecar) {
      // The output stands either way; failing to keep it only means the next build is not a copy.
      await keepImage(session.layout.root, session.layout.tempDir, buildKey, output, sidecar).catch((error: unknown) =>
        session.emit({ type: 'warning', image: refText, message: `could not keep the image in the cache: ${(error as Error).message}` }),
      );
    }
    result.status = 'ok';
    result.output = output;
  } catch (error) {
    result.error = toErrorInfo(withContext(error, { image: refText }));
  } finally {
    await rm(tempImage, { force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
  result.seconds = seconds;
  session.emit({ type: 'image-done', image: refText, status: result.status, seconds, ...(result.output ? { output: result.output } : {}), ...(result.error ? { error: result.error } : {}) });
  return result;
}

/** Everything that shapes the output, so an unchanged rebuild can be skipped. */
function computeBuildKey(image: ResolvedImage, options: BuildOptions, populate: 'tar' | 'dir', userFiles: UserFiles): string {
  const shaping = {
    manifest: image.manifestDigest,
    populate,
    userFiles: userFiles.digest ?? null,
    uuid: options.uuid ?? null,
    sourceDateEpoch: options.sourceDateEpoch ?? null,
    size: options.sizeBytes ?? null,
    headroom: options.headroomPercent ?? null,
    inject: options.inject !== false,
    agent: options.agentDigest ?? null,
    version: packageVersion(),
  };
  return createHash('sha256').update(JSON.stringify(shaping)).digest('hex');
}

/** Renames the synced image to its final name, then writes its sidecar: a sidecar never names an image that is not there. */
async function publish(tempImage: string, output: string, sidecarPath: string, sidecar: Sidecar): Promise<void> {
  await rename(tempImage, output);
  await fsyncDir(dirname(output));
  await writeFileAtomic(sidecarPath, JSON.stringify(sidecar, null, 2) + '\n');
}

/** --check: the rebuild must equal the existing output byte for byte, and the sidecar must name its hash. */
async function checkAgainst(output: string, sidecarPath: string, rebuilt: string, fresh: Sidecar): Promise<void> {
  let existing: Partial<Sidecar>;
  try {
    existing = JSON.parse(await readFile(sidecarPath, 'utf8')) as Partial<Sidecar>;
    await stat(output);
  } catch {
    throw new RootforgeError('ERR_CHECK_FAILED', `no existing output to check: ${output} and ${sidecarPath} must both exist`);
  }
  const offset = await firstDifference(rebuilt, output);
  if (offset !== undefined) {
    const where = await describeOffset(output, offset);
    const why = existing.buildKey !== fresh.buildKey ? '; the sidecar records other inputs or options than this rebuild' : existing.reproducible === false ? '; it was built on the dir path, which is not reproducible' : '';
    throw new RootforgeError('ERR_CHECK_FAILED', `${output} differs from its rebuild: first difference in ${where}${why}`);
  }
  if (existing.sha256 !== fresh.sha256) {
    throw new RootforgeError('ERR_CHECK_FAILED', `${sidecarPath} records sha256 ${existing.sha256 ?? 'none'}, but the image and its rebuild hash to ${fresh.sha256}`);
  }
}

async function reusable(output: string, sidecarPath: string, buildKey: string): Promise<boolean> {
  try {
    const sidecar = JSON.parse(await readFile(sidecarPath, 'utf8')) as Partial<Sidecar>;
    return sidecar.buildKey === buildKey && (await stat(output)).size === sidecar.sizeBytes;
  } catch {
    return false;
  }
}
