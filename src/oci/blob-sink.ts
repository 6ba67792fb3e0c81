/**
 * Where a blob download goes. The registry client streams into it and may resume;
 * the cache implements it with a temp file and a running hash.
 */
export interface BlobSink {
  /** Bytes accepted so far; a resumed download asks the server for the rest from here. */
  readonly written: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Drop everything written, for a server that answers a Range request with the whole blob. */
  reset(): Promise<void>;
}
