/** PAX extended header records ("<len> <key>=<value>\n") with values kept as raw bytes. */

export type PaxRecords = Map<string, Buffer>;

export const XATTR_PREFIX = 'SCHILY.xattr.';

/** Parses a PAX header body; values stay bytes because tar-stream 3 decodes them as UTF-8 and loses binary xattrs. */
export function decodePaxRecords(body: Buffer): PaxRecords {
  const records: PaxRecords = new Map();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number(body.toString('latin1', at, space));
    if (!Number.isSafeInteger(len) || len <= space - at + 1 || at + len > body.length) break;
    const end = at + len;
    if (body[end - 1] !== 0x0a) break;
    const equals = body.indexOf(0x3d, space + 1);
    if (equals === -1 || equals >= end) break;
    records.set(body.toString('utf8', space + 1, equals), Buffer.from(body.subarray(equals + 1, end - 1)));
    at = end;
  }
  return records;
}

/** Encodes records; the length prefix counts its own digits, so it is found by a fixed point. */
export function encodePaxRecords(records: Iterable<readonly [string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
    let len = body + String(body).length;
    if (String(len).length !== String(len - body).length) len = body + String(len).length;
    parts.push(Buffer.from(`${len} ${key}=`), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** The xattrs a record set carries, name -> raw value. */
export function xattrsFromPax(records: PaxRecords): Record<string, Buffer> | undefined {
  let xattrs: Record<string, Buffer> | undefined;
  for (const [key, value] of records) {
    if (!key.startsWith(XATTR_PREFIX) || key.length === XATTR_PREFIX.length) continue;
    (xattrs ??= {})[key.slice(XATTR_PREFIX.length)] = value;
  }
  return xattrs;
}
