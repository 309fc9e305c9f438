import { readdir, stat } from 'node:fs/promises';
import { preview } from '../json_preview.js';
import { checkOptionKeys, clip, WebvitError } from '../../runtime/errors.js';
import { basename, dirname, join } from 'node:path';
import { checkHead, parseSafetensors } from '../safetensors.js';
import { errnoWhy, isMissing, stdinHint, READ_LIMITS, readRegularFile, readRegularFileChunks, readRegularText, type ReadOptions } from '../../runtime/node-read-file.js';
import { parseLabelsBytes } from '../labels.js';
import { readWeights } from '../weights.js';
import { encodeWeights, fail, sourceTensors, type Checkpoint, type ConvertOptions, type OutputDtype, type Planned, type SourceTensor } from './core.js';
import { convertCheckpoint } from './index.js';
import { headerSourceTensors, headSize, StreamedConversion, streamFile, type StreamFile } from './stream.js';

/**
 * Finds and reads a checkpoint on disk (Node only):
 * - a folder: `model.safetensors`, else `model.safetensors.index.json` (sharded), else its one
 *   `*.safetensors` file; `config.json` beside it when there is one;
 * - a `.safetensors` file (config.json from its folder, when there is one);
 * - a `*.safetensors.index.json` file: the shards it names, from its folder.
 * Pickled PyTorch files (.bin, .pt, .pth) are refused with what to do instead.
 * `preprocessor_config.json` (a Hugging Face image processor) is read from the same folder when
 * there is one, or from `options.preprocessorConfig` (a path), or not at all (`'none'`).
 * `files` lists every file read (weights or index and shards, config.json, preprocessor_config.json).
 */
export async function readCheckpoint(path: string, options: { preprocessorConfig?: string } = {}): Promise<Checkpoint> {
  return (await readCheckpointAs(path, options, false)).ckpt;
}

/**
 * readCheckpoint reading only each weight file's header (the same checks, the same Checkpoint,
 * its tensors not readable): the plan of a streamed conversion (stream.ts), whose bytes are then
 * read file by file in chunks (readRegularFileChunks). `weights` lists the files in the order read.
 */
export async function readCheckpointHeads(path: string): Promise<{ ckpt: Checkpoint; weights: (StreamFile & { path: string })[] }> {
  return readCheckpointAs(path, {}, true);
}

/**
 * A checkpoint on disk (as readCheckpoint finds it) converted to webvit file bytes, streamed: the
 * headers read first, the output allocated once, then each weight file read in chunks and its
 * tensors converted into place (stream.ts). The output is what
 * encodeWeights(convertCheckpoint(await readCheckpoint(path)).weights, dtype, extra(…)) gives,
 * without holding the checkpoint or the converted tensors in memory beside it.
 */
export async function convertCheckpointStreamed(path: string, dtype: OutputDtype, extra: (p: Pick<Planned, 'layout' | 'metadata'>) => Record<string, string>, options: ConvertOptions = {}): Promise<{ bytes: Uint8Array; notes: string[] }> {
  if (dtype == 'int8' || dtype == 'q4') {
    // Quantised: streamed to F32 first, then each matmul weight quantised from views of that file
    // (the F32 file and the quantised one, about 1.25x the checkpoint at the peak).
    let meta: Record<string, string> = {};
    const f32 = await convertCheckpointStreamed(path, 'F32', (p) => (meta = extra(p)), options);
    return { bytes: encodeWeights(readWeights(f32.bytes, path, true), dtype, meta), notes: f32.notes };
  }
  const { ckpt, weights } = await readCheckpointHeads(path);
  if (ckpt.metadata.format === 'webvit' && ckpt.metadata['webvit.config'] !== undefined) {
    // A webvit file re-encoded: checked whole by readWeights (convertWebvit), so read whole.
    const r = convertCheckpoint(await readCheckpoint(path), options);
    return { bytes: encodeWeights(r.weights, dtype, extra(r)), notes: r.notes };
  }
  const conv = new StreamedConversion(ckpt, weights, dtype, extra, options);
  for (const w of weights) {
    await readRegularFileChunks(w.path, { code: 'BAD_WEIGHTS', limit: Number.MAX_SAFE_INTEGER, size: w.size }, (at, chunk) => conv.feed(w.file, at, chunk));
  }
  return { bytes: conv.finish(), notes: conv.planned.notes };
}

async function readCheckpointAs(path: string, options: { preprocessorConfig?: string }, headsOnly: boolean): Promise<{ ckpt: Checkpoint; weights: (StreamFile & { path: string })[] }> {
  if (typeof path !== 'string') throw new WebvitError('BAD_ARGUMENT', `readCheckpoint: expected a path (a string), got ${path === null ? 'null' : typeof path}`);
  checkOptionKeys(options, ['preprocessorConfig'], 'readCheckpoint');
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => fail(path, `cannot read the checkpoint (${errnoWhy(e)}${stdinHint(path, e)})`));
  let dir: string;
  let weightsPath: string;
  if (st.isDirectory()) {
    dir = path;
    const entries = await readdir(path);
    if (entries.includes('model.safetensors')) weightsPath = join(path, 'model.safetensors');
    else if (entries.includes('model.safetensors.index.json')) weightsPath = join(path, 'model.safetensors.index.json');
    else {
      const st = entries.filter((e) => e.endsWith('.safetensors'));
      const index = entries.filter((e) => e.endsWith('.safetensors.index.json'));
      if (st.length === 1) weightsPath = join(path, st[0]);
      else if (st.length === 0 && index.length === 1) weightsPath = join(path, index[0]);
      else if (st.length > 1) return fail(path, `has ${st.length} .safetensors files (${st.slice(0, 4).map((n) => clip(n)).join(', ')}${st.length > 4 ? ', ...' : ''}) and no model.safetensors or index; name the file to convert`);
      else {
        const pickled = entries.filter((e) => /\.(bin|pt|pth|ckpt)$/.test(e));
        return fail(
          path,
          pickled.length
            ? `has ${pickled.join(', ')} but no .safetensors: webvit convert reads safetensors only; re-save the weights with safetensors (save_pretrained(..., safe_serialization=True), or safetensors.torch.save_file(model.state_dict(), "model.safetensors"))`
            : `has no model.safetensors, model.safetensors.index.json or other .safetensors file`,
        );
      }
    }
  } else {
    dir = dirname(path);
    weightsPath = path;
  }
  const weights: (StreamFile & { path: string })[] = [];
  const heads = headsOnly ? weights : undefined;
  const ckpt = weightsPath.endsWith('.index.json') ? await readSharded(path, weightsPath, heads) : await readSingle(path, weightsPath, heads);
  const configPath = join(dir, 'config.json');
  // Absent is fine (then the layout and --heads say the shape); present but unreadable is not.
  const configText = await readRegularText(configPath, { ...JSON_READ, what: 'config.json' }).catch((e) => (isMissing(e) ? undefined : Promise.reject(e)));
  if (configText !== undefined) {
    let cfg: unknown;
    try {
      cfg = JSON.parse(configText);
    } catch (e) {
      fail(configPath, `is not valid JSON (${(e as Error).message})`);
    }
    if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) fail(configPath, `must be a JSON object`);
    ckpt.config = cfg as Record<string, unknown>;
    ckpt.configSource = configPath;
    ckpt.files!.push(configPath);
  }
  const explicit = options.preprocessorConfig !== undefined && options.preprocessorConfig !== 'none';
  if (options.preprocessorConfig !== 'none') {
    const pPath = explicit ? options.preprocessorConfig! : join(dir, 'preprocessor_config.json');
    const text = await readRegularText(pPath, { ...JSON_READ, what: `the preprocessor config${explicit ? ' given with --preprocessor-config' : ''}` }).catch((e) =>
      !explicit && isMissing(e) ? undefined : Promise.reject(e),
    );
    if (text !== undefined) {
      ckpt.preprocessor = parseJsonObject(text, pPath);
      ckpt.preprocessorSource = pPath;
      ckpt.preprocessorExplicit = explicit;
      ckpt.files!.push(pPath);
    }
  }
  return { ckpt, weights };
}

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    fail(path, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `must be a JSON object`);
  return v as Record<string, unknown>;
}

/** config.json, preprocessor_config.json and a shard index: small JSON files. */
const JSON_READ: ReadOptions = { code: 'BAD_WEIGHTS', limit: READ_LIMITS.json };

/**
 * A weights file or shard (followed when it is a symlink, as in a Hugging Face cache), or an index.
 * `heads`: of a weights file only its header is read, kept there as a StreamFile.
 */
async function readBytes(path: string, heads?: (StreamFile & { path: string })[]): Promise<Uint8Array> {
  const index = path.endsWith('.json');
  if (heads && !index) {
    let size = 0;
    const head = await readRegularFile(path, {
      code: 'BAD_WEIGHTS',
      limit: Number.MAX_SAFE_INTEGER,
      head: async (read, n) => {
        size = n;
        const first = await read(8);
        if (isPickled(first)) return 8; // refused by the caller, as a whole file would be
        return headSize(first, n, path);
      },
    });
    if (isPickled(head)) return head;
    heads.push({ ...streamFile(path, head, size), path });
    return head;
  }
  return readRegularFile(
    path,
    index
      ? JSON_READ
      : {
          code: 'BAD_WEIGHTS',
          limit: READ_LIMITS.weights,
          tooLargeHint: 'the most one read can hold',
          // The header checked from the first bytes (a torch pickle is left to its own message).
          head: async (read, size) => void (isPickled(await read(8)) || (await checkHead(read, size, path))),
        },
  );
}

/** torch.save output: a zip archive (PK\x03\x04) or a bare pickle (protocol byte 0x80). */
const isPickled = (b: Uint8Array) => (b[0] === 0x50 && b[1] === 0x4b) || b[0] === 0x80;

async function readSingle(source: string, file: string, heads?: (StreamFile & { path: string })[]): Promise<Checkpoint> {
  const bytes = await readBytes(file, heads);
  let f;
  try {
    f = heads ? fromHead(heads.at(-1), bytes, file) : parseSafetensors(bytes, file);
  } catch (e) {
    // (A safetensors header length may start with these bytes too: sniff only what failed to parse.)
    if (isPickled(bytes)) {
      fail(file, `is a pickled PyTorch file (torch.save): webvit convert reads safetensors only; re-save with safetensors.torch.save_file(state_dict, "model.safetensors")`);
    }
    throw e;
  }
  const tensors = new Map<string, SourceTensor>();
  for (const t of 'sources' in f ? f.sources : sourceTensors(f)) tensors.set(t.name, t);
  return { source, tensors, metadata: f.metadata, files: [file] };
}

/** A file read as its header only: parseSafetensors' result, with source tensors that cannot be read yet. */
function fromHead(h: StreamFile | undefined, bytes: Uint8Array, file: string): Pick<ReturnType<typeof parseSafetensors>, 'metadata' | 'tensors'> & { sources: SourceTensor[] } {
  if (!h || h.file !== file) {
    // A pickled file: what parseSafetensors says of it (the caller names it as pickled).
    parseSafetensors(bytes, file);
    throw new Error('internal: a header that parsed only whole');
  }
  return { metadata: h.metadata, tensors: h.tensors, sources: headerSourceTensors(h) };
}

async function readSharded(source: string, indexPath: string, heads?: (StreamFile & { path: string })[]): Promise<Checkpoint> {
  let index: { weight_map?: unknown };
  const text = new TextDecoder().decode(await readBytes(indexPath));
  try {
    index = JSON.parse(text);
  } catch (e) {
    return fail(indexPath, `is not valid JSON (${(e as Error).message})`);
  }
  const map = index?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return fail(indexPath, `has no "weight_map" object (tensor name -> shard file)`);
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) fail(indexPath, `weight_map["${clip(name)}"] must be a file name in the same folder, got ${preview(shard)}`);
    byShard.set(shard as string, (byShard.get(shard as string) ?? new Set<string>()).add(name));
  }
  const tensors = new Map<string, SourceTensor>();
  let metadata: Record<string, string> = {};
  const dir = dirname(indexPath);
  const files = [indexPath, ...[...byShard.keys()].map((s) => join(dir, s))];
  for (const [shard, names] of byShard) {
    const bytes = await readBytes(join(dir, shard), heads).catch((e: unknown) => {
      // A shard that cannot be read: say that the index names it.
      throw e instanceof WebvitError ? new WebvitError(e.code, `${e.message}; ${basename(indexPath)} names it in its weight_map`, { cause: e }) : e;
    });
    const f = heads ? fromHead(heads.at(-1), bytes, join(dir, shard)) : parseSafetensors(bytes, join(dir, shard));
    if (tensors.size === 0) metadata = f.metadata;
    for (const t of 'sources' in f ? f.sources : sourceTensors(f)) {
      if (tensors.has(t.name)) fail(indexPath, `tensor ${clip(t.name)} is in both ${basename(tensors.get(t.name)!.file)} and ${shard}`);
      if (!names.has(t.name)) fail(indexPath, `shard ${shard} holds ${clip(t.name)}, which weight_map does not list there`);
      tensors.set(t.name, t);
    }
    const missing = [...names].filter((n) => !f.tensors.has(n));
    if (missing.length) fail(indexPath, `weight_map puts ${missing.slice(0, 4).map((n) => clip(n)).join(', ')}${missing.length > 4 ? ` and ${missing.length - 4} more` : ''} in ${shard}, which does not have them`);
  }
  return { source, tensors, metadata, files };
}

/**
 * Label names from a text file, one per line, in UTF-8: refused, naming the file and the line,
 * when it is UTF-16, not UTF-8, or has an empty label or one with a control character
 * (src/model/labels.ts); a UTF-8 byte-order mark is dropped.
 */
export async function readLabelsFile(path: string): Promise<string[]> {
  const bytes = await readRegularFile(path, { code: 'BAD_WEIGHTS', what: 'the labels file given with --labels', limit: READ_LIMITS.labels });
  const r = parseLabelsBytes(bytes);
  if ('problem' in r) return fail(path, `labels file (--labels): ${r.problem}`);
  return r.labels;
}
