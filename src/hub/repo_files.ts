import { clip, WebvitError } from '../errors.js';
import { fileName } from './client.js';

/**
 * Which files of a Hub repository hold a checkpoint's weights, shared by the page's loader
 * (src/web/hub.ts) and Node's (node_model.ts): model.safetensors, else the shard index and the
 * shards it names; the pickled files that mean "no safetensors here"; the errors for each.
 */

/** Weight files repositories may hold that webvit does not read (looked for with HEAD only). */
export const PICKLED_WEIGHTS = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'open_clip_pytorch_model.bin'];

/** The shard files `model.safetensors.index.json` names, each once, each a plain file name beside it. */
export function shardNames(indexText: string, id: string, revision: string): string[] {
  const where = fileName(id, revision, 'model.safetensors.index.json');
  let map: unknown;
  try {
    map = (JSON.parse(indexText) as { weight_map?: unknown })?.weight_map;
  } catch (e) {
    throw new WebvitError('BAD_WEIGHTS', `${where} is not valid JSON (${clip((e as Error).message)})`);
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new WebvitError('BAD_WEIGHTS', `${where} has no "weight_map" object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shards) {
    if (typeof s !== 'string' || s.includes('/') || s.includes('\\') || s.startsWith('.')) {
      throw new WebvitError('BAD_WEIGHTS', `${where} names a shard that is not a file name beside it: ${clip(JSON.stringify(s) ?? '', 120)}`);
    }
  }
  return shards as string[];
}

/** No safetensors weights: UNSUPPORTED naming the pickled files found and the ways out, else NOT_FOUND. */
export function noSafetensors(id: string, revision: string, pickled: string[], offline = false): WebvitError {
  if (pickled.length) {
    return new WebvitError(
      'UNSUPPORTED',
      `${clip(id, 200)} has its weights only as ${pickled.join(', ')} (a pickled PyTorch file), which webvit does not read: it runs safetensors. ` +
        `Look for a revision with model.safetensors (the Hub's "convert to safetensors" pull requests: ${clip(id, 200)}@refs/pr/N), ` +
        `or load it in Python and save it with save_pretrained(dir, safe_serialization=True), then \`webvit convert dir -o model.safetensors\``,
    );
  }
  return new WebvitError(
    'NOT_FOUND',
    `${clip(id, 200)}${revision === 'main' ? '' : `@${clip(revision, 80)}`} has no model.safetensors or model.safetensors.index.json${offline ? ' in the Hugging Face cache (HF_HUB_OFFLINE is set)' : ''}: webvit reads safetensors weights`,
  );
}
