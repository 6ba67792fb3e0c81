import { createHash } from 'node:crypto';

/** A UUID-formatted value derived from `seed`, with the RFC 4122 version 4 and variant bits set so tools accept it. */
function uuidFrom(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Filesystem UUID and directory hash seed derived from what shaped the build, so a rebuild gives the same bytes. */
export function deriveIdentity(buildKey: string, uuid?: string): { uuid: string; hashSeed: string } {
  return { uuid: uuid ?? uuidFrom(`rootforge:uuid:${buildKey}`), hashSeed: uuidFrom(`rootforge:hash_seed:${uuid ?? buildKey}`) };
}

/** SOURCE_DATE_EPOCH from an image config's `created` time; 0 when it has none or it does not parse. */
export function epochFromCreated(created: string | undefined): number {
  const ms = created ? Date.parse(created) : Number.NaN;
  return Number.isFinite(ms) && ms >= 0 ? Math.floor(ms / 1000) : 0;
}
