/** One image of a batch with its own options; batch-wide defaults fill what it leaves out. */
export interface ImageSpec {
  ref: string;
  /** Output name (default: derived from the ref). */
  name?: string;
  platform?: string;
  sizeBytes?: number;
  headroomPercent?: number;
  overlayDir?: string;
  /** false leaves out the guest files; a string also adds that --inject JSON file. */
  inject?: boolean | string;
  agentPath?: string;
}
