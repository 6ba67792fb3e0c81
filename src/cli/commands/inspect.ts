import { Command } from 'commander';
import { inspect, type InspectResult } from '../../batch/inspect.js';
import { humanBytes } from '../progress/format.js';
import { addRegistryOptions, sessionOptions, type CommonFlags } from '../options.js';
import type { CommandContext } from '../context.js';

interface InspectFlags extends CommonFlags {
  raw?: boolean;
  imageConfig?: boolean;
}

function describe(result: InspectResult): string {
  const c = result.config;
  const lines = [
    `Name:          ${result.ref}`,
    `Digest:        ${result.digest}`,
    ...(result.platforms ? [`Platforms:     ${result.platforms.join(', ')}`] : []),
    `Platform:      ${result.platform}`,
    `Manifest:      ${result.manifestDigest} (${result.manifestMediaType})`,
    `Config:        ${result.configDigest}`,
    ...(result.created ? [`Created:       ${result.created}`] : []),
    ...(c.Entrypoint ? [`Entrypoint:    ${JSON.stringify(c.Entrypoint)}`] : []),
    ...(c.Cmd ? [`Cmd:           ${JSON.stringify(c.Cmd)}`] : []),
    ...(c.WorkingDir ? [`WorkingDir:    ${c.WorkingDir}`] : []),
    ...(c.User ? [`User:          ${c.User}`] : []),
    ...(c.Env?.length ? ['Env:', ...c.Env.map((e) => `  ${e}`)] : []),
    ...(c.Labels && Object.keys(c.Labels).length ? ['Labels:', ...Object.entries(c.Labels).map(([k, v]) => `  ${k}=${v}`)] : []),
    `Cached as:     ${result.cachedAs.length ? result.cachedAs.join(', ') : '(not recorded in the cache)'}`,
    `Layers:        ${result.layers.length}, ${humanBytes(result.totalSize)} compressed`,
    ...result.layers.map((l) => `  ${l.digest}  ${humanBytes(l.size).padStart(9)}  ${l.cached ? (l.uncompressedCached ? 'cached+unpacked' : 'cached') : 'not cached'}  ${l.mediaType}`),
  ];
  return lines.join('\n') + '\n';
}

export function inspectCommand(context: CommandContext): Command {
  return addRegistryOptions(
    new Command('inspect')
      .description('show an image: its platforms, manifest, config and layers, and which layers the cache holds (like skopeo inspect)')
      .argument('<ref>', 'image reference, e.g. debian:bookworm or oci:DIR:TAG'),
  )
    .option('--json', 'print the result as one JSON document')
    .option('--raw', 'print the manifest exactly as the registry sent it')
    .option('--image-config', 'print the image config exactly as the registry sent it (skopeo inspect --config)')
    .action(async (ref: string, flags: InspectFlags) => {
      const { raw, ...result } = await inspect({ ...sessionOptions(flags, context.signal), ref });
      if (flags.raw) context.printer.data(raw.manifest.endsWith('\n') ? raw.manifest : `${raw.manifest}\n`);
      else if (flags.imageConfig) context.printer.data(raw.config.endsWith('\n') ? raw.config : `${raw.config}\n`);
      else if (flags.json) context.printer.data(JSON.stringify(result, null, 2) + '\n');
      else context.printer.data(describe({ ...result, raw }));
    });
}
