import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RootforgeError } from '../errors.js';
import { loadUserFiles, type UserFiles } from '../inject/user-files.js';
import type { BuildOptions } from './build.js';
import type { ImageSpec } from './image-spec.js';

/** Per-image options over the batch-wide ones; agents and user files are read once however many images share them. */
export class ImageInputs {
  private readonly agents = new Map<string, Promise<string>>();
  private readonly userFiles = new Map<string, Promise<UserFiles>>();

  constructor(private readonly batch: BuildOptions) {}

  async optionsFor(spec: ImageSpec): Promise<BuildOptions> {
    const options: BuildOptions = { ...this.batch };
    if (spec.platform !== undefined) options.platform = spec.platform;
    if (spec.sizeBytes !== undefined) options.sizeBytes = spec.sizeBytes;
    if (spec.headroomPercent !== undefined) options.headroomPercent = spec.headroomPercent;
    if (spec.overlayDir !== undefined) options.overlayDir = spec.overlayDir;
    if (spec.agentPath !== undefined) options.agentPath = spec.agentPath;
    if (spec.inject === false) options.inject = false;
    if (typeof spec.inject === 'string') options.injectFile = spec.inject;
    if (options.agentPath) options.agentDigest = await this.agentDigest(options.agentPath);
    return options;
  }

  userFilesFor(options: BuildOptions): Promise<UserFiles> {
    const key = JSON.stringify([options.overlayDir, options.overlayOwner, options.injectFile]);
    let files = this.userFiles.get(key);
    if (!files) this.userFiles.set(key, (files = loadUserFiles(options, options.signal)));
    return files;
  }

  private agentDigest(path: string): Promise<string> {
    let digest = this.agents.get(path);
    if (!digest) {
      digest = readFile(path).then(
        (bytes) => createHash('sha256').update(bytes).digest('hex'),
        (error: Error) => {
          throw new RootforgeError('ERR_INJECT', `cannot read the agent ${path}: ${error.message}`);
        },
      );
      this.agents.set(path, digest);
    }
    return digest;
  }
}
