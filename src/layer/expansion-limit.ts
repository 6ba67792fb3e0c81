/** Limits on how far a compressed layer may expand: the defence against decompression bombs. */
export interface ExpansionLimits {
  /** Most uncompressed bytes any layer may have. */
  maxLayerBytes: number;
  /** Most uncompressed bytes per compressed byte, past the floor below; 0 turns the ratio check off. */
  maxExpansion: number;
}

export const DEFAULT_EXPANSION_LIMITS: ExpansionLimits = { maxLayerBytes: 64 * 1024 ** 3, maxExpansion: 100 };

/** Small layers of zeros or sparse files legitimately expand far beyond any ratio; below this they always may. */
export const EXPANSION_FLOOR_BYTES = 256 * 1024 ** 2;

/** The most bytes a layer of `compressedBytes` may expand to. */
export function uncompressedLimit(compressedBytes: number, limits: ExpansionLimits): number {
  if (limits.maxExpansion <= 0) return limits.maxLayerBytes;
  return Math.min(limits.maxLayerBytes, Math.max(EXPANSION_FLOOR_BYTES, compressedBytes * limits.maxExpansion));
}
