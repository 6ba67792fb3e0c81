import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { RootforgeError } from '../errors.js';
import { parseSize } from '../ext4/size.js';
import type { ImageSpec } from './image-spec.js';

export interface BatchFile {
  defaults: Omit<ImageSpec, 'ref' | 'name'>;
  images: ImageSpec[];
  /** What is wrong with the file, each naming where; the caller reports them with the batch's other problems. */
  problems: string[];
}

const OPTION_KEYS = ['platform', 'size', 'headroom', 'overlay', 'inject', 'agent'] as const;
const IMAGE_KEYS = ['ref', 'name', ...OPTION_KEYS];

type Options = Omit<ImageSpec, 'ref' | 'name'>;

/**
 * Reads --file: a plain list (one ref per line, # comments), or with a .json/.yaml/.yml name a document
 * `{defaults: {...}, images: [ref | {ref, name, platform, size, headroom, overlay, inject, agent}]}`.
 * Every problem is collected, for the caller to report at once with the batch's others.
 */
export async function readBatchFile(path: string): Promise<BatchFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RootforgeError('ERR_USAGE', `cannot read ${path}: ${(error as Error).message}`);
  }
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    const images = text
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter(Boolean)
      .map((ref) => ({ ref }));
    return { defaults: {}, images, problems: [] };
  }
  let doc: unknown;
  try {
    // yaml is loaded only for YAML batch files: loading it adds about 60 ms to every start.
    doc = ext === '.json' ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (error) {
    throw new RootforgeError('ERR_USAGE', `${path} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  const base = dirname(resolve(path));
  const spec = parseDocument(doc, base, problems);
  return { ...spec, problems: problems.map((p) => `${path}: ${p}`) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseDocument(doc: unknown, base: string, problems: string[]): Omit<BatchFile, 'problems'> {
  const result: Omit<BatchFile, 'problems'> = { defaults: {}, images: [] };
  if (!isObject(doc)) {
    problems.push('expected an object with "images" (and optional "defaults")');
    return result;
  }
  for (const key of Object.keys(doc)) if (key !== 'images' && key !== 'defaults') problems.push(`unknown key "${key}" (expected images, defaults)`);
  if (doc.defaults !== undefined) {
    if (!isObject(doc.defaults)) problems.push('defaults: expected an object');
    else result.defaults = parseOptions(doc.defaults, 'defaults', base, problems, OPTION_KEYS);
  }
  if (!Array.isArray(doc.images)) {
    problems.push('images: expected a list');
    return result;
  }
  doc.images.forEach((item: unknown, i: number) => {
    const where = `images[${i}]`;
    if (typeof item === 'string') {
      result.images.push({ ref: item });
      return;
    }
    if (!isObject(item)) {
      problems.push(`${where}: expected a reference or an object`);
      return;
    }
    if (typeof item.ref !== 'string' || item.ref === '') problems.push(`${where}.ref: expected an image reference`);
    if (item.name !== undefined && (typeof item.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(item.name))) {
      problems.push(`${where}.name: expected a file name of letters, digits, '.', '_' and '-'`);
    }
    const options = parseOptions(item, where, base, problems, IMAGE_KEYS);
    result.images.push({ ref: String(item.ref ?? ''), ...(typeof item.name === 'string' ? { name: item.name } : {}), ...options });
  });
  return result;
}

function parseOptions(raw: Record<string, unknown>, where: string, base: string, problems: string[], allowed: readonly string[]): Options {
  const out: Options = {};
  const path = (value: string): string => (isAbsolute(value) ? value : resolve(base, value));
  for (const [key, value] of Object.entries(raw)) {
    if (!allowed.includes(key)) {
      problems.push(`${where}: unknown option "${key}" (expected ${allowed.join(', ')})`);
      continue;
    }
    const bad = (why: string): void => void problems.push(`${where}.${key}: ${why}`);
    switch (key) {
      case 'platform':
        if (typeof value === 'string') out.platform = value;
        else bad('expected os/arch[/variant]');
        break;
      case 'size':
        try {
          out.sizeBytes = parseSize(String(value));
        } catch (error) {
          bad((error as Error).message);
        }
        break;
      case 'headroom':
        if (typeof value === 'number' && value >= 0 && value <= 1000) out.headroomPercent = value;
        else bad('expected a percentage from 0 to 1000');
        break;
      case 'overlay':
        if (typeof value === 'string' && value) out.overlayDir = path(value);
        else bad('expected a directory');
        break;
      case 'inject':
        if (typeof value === 'boolean') out.inject = value;
        else if (typeof value === 'string' && value) out.inject = path(value);
        else bad('expected true, false, or the path of an inject JSON file');
        break;
      case 'agent':
        if (typeof value === 'string' && value) out.agentPath = path(value);
        else bad('expected the path of the agent binary');
        break;
      default:
        break;
    }
  }
  return out;
}
