/** The mkfs.ext4 argument list for an image. Pure. */
import { RootforgeError } from '../errors.js';
import { BLOCK_SIZE, INODE_SIZE, type ImageSize } from './size.js';

export interface MkfsIdentity {
  /** Filesystem UUID (-U), for reproducible images. */
  uuid?: string;
  /** Directory hash seed (-E hash_seed=), for reproducible images. */
  hashSeed?: string;
  /** Volume label (-L), at most 16 bytes. */
  label?: string;
  /** Build without metadata_csum, to be turned on afterwards (finishImage): mkfs -d fills a checksummed fs about twice as slowly. */
  deferChecksums?: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `-d source` is '-' for a tar on stdin, or a staging directory. */
export function mkfsArgs(image: string, size: ImageSize, source: string, identity: MkfsIdentity = {}): string[] {
  if (!Number.isSafeInteger(size.bytes) || size.bytes < BLOCK_SIZE * 2048 || size.bytes % BLOCK_SIZE !== 0) {
    throw new RootforgeError('ERR_INTERNAL', `image size ${size.bytes} is not a whole number of 4 KiB blocks of at least 8 MiB`);
  }
  if (!Number.isSafeInteger(size.inodes) || size.inodes <= 0) throw new RootforgeError('ERR_INTERNAL', `inode count ${size.inodes} is invalid`);
  if (identity.uuid !== undefined && !UUID.test(identity.uuid)) throw new RootforgeError('ERR_USAGE', `${identity.uuid} is not a UUID`);
  if (identity.hashSeed !== undefined && !UUID.test(identity.hashSeed)) throw new RootforgeError('ERR_USAGE', `hash seed ${identity.hashSeed} is not a UUID`);
  if (identity.label !== undefined && (Buffer.byteLength(identity.label) > 16 || /[\0\n]/.test(identity.label))) {
    throw new RootforgeError('ERR_USAGE', `volume label ${JSON.stringify(identity.label)} is longer than 16 bytes`);
  }
  const extended = ['root_owner=0:0'];
  if (identity.hashSeed) extended.push(`hash_seed=${identity.hashSeed}`);
  return [
    '-F',
    '-q',
    '-t', 'ext4',
    // -T default: no "small"/"floppy" usage type picking 1 KiB blocks or a different inode ratio for small images.
    '-T', 'default',
    '-b', String(BLOCK_SIZE),
    '-I', String(INODE_SIZE),
    '-N', String(size.inodes),
    ...(identity.uuid ? ['-U', identity.uuid] : []),
    ...(identity.label !== undefined ? ['-L', identity.label] : []),
    ...(identity.deferChecksums ? ['-O', '^metadata_csum'] : []),
    '-E', extended.join(','),
    '-d', source,
    image,
    // A 'k' suffix: a bare number would count -b sized blocks, not KiB.
    `${size.bytes / 1024}k`,
  ];
}
