import { checkSourceName, clip, WebvitError } from '../runtime/errors.js';
import { oneLine, preview } from './json_preview.js';
import type { Pooling } from '../kernels/pool/op.js';
import { GELU } from '../kernels/gelu/definition.js';
import { QUICK_GELU } from '../kernels/quick_gelu/definition.js';
import { GELU_TANH } from '../kernels/gelu_tanh/definition.js';

/**
 * The activations an MLP can name (`hidden_act`), each described once in its kernels folder (its
 * `definition.ts`: the standalone op, carrying the `activation` that fc1's matmul fuses). This is
 * the one list of activations: the kernel tests and the benchmark take them from here (allOps in
 * src/model/ops.ts), so a new one is its folder plus one entry here.
 */
export const MLP_ACTIVATIONS = { gelu: GELU, quick_gelu: QUICK_GELU, gelu_tanh: GELU_TANH } as const;
export type MlpActivation = keyof typeof MLP_ACTIVATIONS;

/** How a model pools its tokens (see ViTConfig.pooling). */
export type ModelPooling = Pooling | 'cls+mean' | 'map';

/** A ViT's shape. Field names follow the weight file's `webvit.config` (docs/weights-format.md). */
export interface ViTConfig {
  image_size: number;
  patch_size: number;
  num_channels: number;
  hidden_size: number;
  num_layers: number;
  num_heads: number;
  mlp_size: number;
  /** 0: no classifier; forward returns pooled features only. */
  num_classes: number;
  layer_norm_eps: number;
  qkv_bias: boolean;
  /**
   * "cls": the class (and distillation) token after the final layernorm; "mean": the patch tokens'
   * mean; "cls+mean" (DINOv2's classifiers): the final-norm class token is the features (the
   * embedding), and the head reads it and the mean of the final-norm patch tokens side by side;
   * "map" (SigLIP): an attention-pooling head over every final-norm token (a learned query per
   * head, then an output projection and a residual MLP: src/model/graph.ts) gives the features.
   */
  pooling: ModelPooling;
  /** A class token precedes the patches (default true; some timm models have none). */
  class_token: boolean;
  /** A distillation token follows the class token (DeiT distilled); default false. */
  distilled: boolean;
  /**
   * Where the final layernorm goes for mean pooling: false (default) normalises every token and
   * then averages (torchvision/HF style); true averages raw tokens and normalises the mean (timm's
   * `fc_norm`, its default for global_pool='avg'). For class-token pooling both are the same.
   */
  fc_norm: boolean;
  /**
   * The MLP's activation after fc1: "gelu" (the exact erf GELU; what an absent field means) or
   * "quick_gelu" (x·sigmoid(1.702·x), CLIP image towers) or "gelu_tanh" (GELU's tanh
   * approximation, SigLIP; HF "gelu_pytorch_tanh").
   */
  hidden_act?: MlpActivation;
  /**
   * Which family of models the weights come from (docs/families.md): "vit" (ViT, DeiT; what an
   * absent field means) or a registered family's name (FamilyModel, below). It names the model;
   * its structure is the fields here, plus the fields the family's folder owns.
   */
  family?: ModelFamily;
  /** A layernorm over every token after the embedding, before the first block (CLIP's `pre_layrnorm`). Absent: false. */
  pre_norm?: boolean;
  /**
   * Width of a linear projection (no bias) of the pooled, normalised features: the model's
   * embedding (CLIP's `visual_projection`). Absent or 0: none.
   */
  projection_size?: number;
  /**
   * Register tokens after the class token (DINOv2 with registers): learned tokens added after the
   * position embeddings (their pos_embed rows are 0), excluded from pooling. Absent: 0.
   */
  register_tokens?: number;
  /**
   * The blocks' MLP: absent, fc1 -> hidden_act -> fc2 (mlp_size wide); "swiglu" (DINOv2's giant
   * sizes), fc1 to [2·mlp_size] then silu(first half) · second half -> fc2: `mlp.fc1.weight` is
   * [D, 2·mlp_size] and hidden_act does not apply to the blocks.
   */
  mlp?: 'swiglu';
}


/** Quantities every part of the engine derives from a config, computed in one place. */
export interface ViTShape {
  /** Patches per side. */
  grid: number;
  /** Tokens before the patches: class, distillation or registers (0, 1, 2, or 1 + registers). */
  prefixTokens: number;
  /** Of those, the class and distillation tokens: what "cls" pooling reads (registers are not read). */
  classTokens: number;
  /** Tokens per image: prefix tokens + patches. */
  tokens: number;
  /**
   * Width of the features (the model's embedding, what the head sees): D, or 2·D for a distilled
   * model (class and distillation token side by side), or projection_size when projected.
   */
  featureSize: number;
  /** Width of the pooled, normalised tokens before any projection. */
  pooledSize: number;
  headDim: number;
  /** Patch-embedding inner size C·P·P. */
  patchInner: number;
  /** Values of one input image, C·S·S. */
  imageValues: number;
}

export function shapeOf(c: ViTConfig): ViTShape {
  // What every size is computed from (a wrong argument gave NaN sizes, or a TypeError).
  if (!(Number.isInteger(c?.image_size) && Number.isInteger(c.patch_size) && Number.isInteger(c.hidden_size))) throw new WebvitError('BAD_ARGUMENT', 'expected a ViTConfig (from parseConfig or presetConfig)');
  const grid = c.image_size / c.patch_size;
  const classTokens = (c.class_token ? 1 : 0) + (c.distilled ? 1 : 0);
  const prefixTokens = classTokens + (c.register_tokens ?? 0);
  return {
    grid,
    prefixTokens,
    classTokens,
    tokens: prefixTokens + grid * grid,
    pooledSize: c.pooling === 'cls' ? classTokens * c.hidden_size : c.hidden_size,
    // "cls+mean": the class token is the features; the head also reads the patch mean (graph.ts).
    featureSize: c.projection_size ? c.projection_size : c.pooling === 'cls' ? classTokens * c.hidden_size : c.hidden_size,
    headDim: c.hidden_size / c.num_heads,
    patchInner: c.num_channels * c.patch_size * c.patch_size,
    imageValues: c.num_channels * c.image_size * c.image_size,
  };
}

type Base = Omit<ViTConfig, 'num_classes'> & { num_classes?: number };
const vit = (image: number, patch: number, hidden: number, layers: number, heads: number): Base => ({
  image_size: image,
  patch_size: patch,
  num_channels: 3,
  hidden_size: hidden,
  num_layers: layers,
  num_heads: heads,
  mlp_size: 4 * hidden,
  num_classes: 1000,
  layer_norm_eps: 1e-6,
  qkv_bias: true,
  pooling: 'cls',
  class_token: true,
  distilled: false,
  fc_norm: false,
});

/** Named architectures (timm's names), for benchmarks, estimates and random-weight models. */
export const VIT_PRESETS = {
  vit_tiny_patch16_224: vit(224, 16, 192, 12, 3),
  vit_small_patch16_224: vit(224, 16, 384, 12, 6),
  vit_base_patch16_224: vit(224, 16, 768, 12, 12),
  vit_base_patch32_224: vit(224, 32, 768, 12, 12),
  vit_large_patch16_224: vit(224, 16, 1024, 24, 16),
} satisfies Record<string, Base>;

export type ViTPresetName = keyof typeof VIT_PRESETS;


export function presetConfig(name: ViTPresetName, overrides: Partial<ViTConfig> = {}): ViTConfig {
  if (!Object.hasOwn(VIT_PRESETS, name)) throw new WebvitError('BAD_ARGUMENT', `unknown preset ${clip(String(name))}; the presets are ${Object.keys(VIT_PRESETS).join(', ')}`);
  return parseConfig({ ...VIT_PRESETS[name], ...overrides }, `preset ${name}`);
}

/**
 * Upper bounds on every size a config states (docs/weights-format.md#limits). A weight file or a
 * checkpoint is a few bytes of JSON in front of its data: without bounds, a count such as
 * num_layers 1e9 makes the loader build a billion names before it can see that the file holds 33
 * tensors. Each bound is far above any ViT published so far (the largest, ViT-22B: hidden 6144,
 * MLP 24576, 48 layers, 48 heads; high-resolution ViTs: a few thousand patches), so a real model
 * never meets one; they are checked before anything proportional to a stated size is allocated.
 */
export const LIMITS = {
  image_size: 16384,
  patch_size: 16384,
  /** Multispectral ViTs use about a dozen; hyperspectral a few hundred. */
  num_channels: 1024,
  hidden_size: 16384,
  num_layers: 1024,
  num_heads: 1024,
  mlp_size: 65536,
  /** ImageNet-21k has 21843 classes; JFT-3B about 30000. */
  num_classes: 1_000_000,
  /** Patches per image, (image_size / patch_size)²: a 256 × 256 grid (SAM's ViT-H uses 64 × 64). */
  patches: 65536,
  /**
   * Values in one tensor (a weight, the position embeddings, one input image): 2^28, 1 GiB as
   * float32. ViT-22B's largest weight has 151 M values.
   */
  tensor_values: 2 ** 28,
  /**
   * Largest |value| of a weight. Trained ViT weights are of order 1 (the bundled model's largest
   * is 1.19) and an F16 checkpoint cannot exceed 65504 at all; a value beyond 1e6 is a corrupt or
   * wrongly scaled file. It would also overflow float32 arithmetic within a block or two: a linear
   * layer sums thousands of products of weights and activations, and layernorm squares the result
   * (float32 ends at 3.4e38; 3e38 in one weight makes the logits NaN at once).
   */
  max_abs_weight: 1e6,
} as const;

/** float32's smallest normal number, 2^-126: the least layer_norm_eps the float32 kernels can add. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/** Where the limits are explained, for messages. */
export const LIMITS_DOC = 'docs/weights-format.md#limits';

const INT_FIELDS = ['image_size', 'patch_size', 'num_channels', 'hidden_size', 'num_layers', 'num_heads', 'mlp_size', 'num_classes'] as const;
const BOOL_FIELDS = { qkv_bias: true, class_token: true, distilled: false, fc_norm: false } as const;
const KNOWN = new Set<string>([...INT_FIELDS, 'layer_norm_eps', 'pooling', 'hidden_act', ...Object.keys(BOOL_FIELDS), 'family', 'pre_norm', 'projection_size', 'register_tokens', 'mlp']);

/**
 * Checks a config from a weight file (or anywhere else) field by field, and that it adds up.
 * Errors name the field, and the expected versus actual value.
 */
export function parseConfig(raw: unknown, source: string): ViTConfig {
  checkSourceName(source, 'parseConfig');
  const bad = (msg: string): never => {
    throw new WebvitError('BAD_CONFIG', oneLine(`${source}: config ${msg}`));
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`must be a JSON object, got ${preview(raw)}`);
  const o = raw as Record<string, unknown>;
  // Fields added after the first weight files: kept absent when absent, so a file's config reads
  // back (and is written again) exactly as it was. A family's own fields are its model's to check.
  // A page has only "vit" until loadWeights loads the families (FamilyModel, below).
  const family =
    o.family === undefined || o.family === 'vit'
      ? undefined
      : (registered.get(o.family as string) ??
        bad(complete ? `field family must be ${MODEL_FAMILIES.map((f) => `"${f}"`).join(' or ')} (or absent: "vit"), got ${preview(o.family)}` : `names model family ${preview(o.family)}, not loaded: read it with loadWeights`));
  const own = Object.keys(family?.fields ?? {});
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k) && !own.includes(k));
  if (unknown.length) bad(`has unknown field(s) ${unknown.join(', ')}; known fields: ${[...KNOWN, ...own].join(', ')}`);
  for (const f of own) {
    const wrong = o[f] === undefined ? undefined : family!.fields![f](o[f]);
    if (wrong) bad(`field ${f} ${wrong}`);
  }
  for (const f of INT_FIELDS) {
    const v = o[f];
    if (v === undefined) bad(`is missing ${f}`);
    const min = f === 'num_classes' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(`field ${f} must be an integer ≥ ${min}, got ${preview(v)}`);
    if ((v as number) > LIMITS[f]) bad(`field ${f} is ${v}, above the limit of ${LIMITS[f]} (${LIMITS_DOC})`);
  }
  const eps = o.layer_norm_eps;
  if (typeof eps !== 'number' || !(eps > 0) || eps >= 1) bad(`field layer_norm_eps must be a number in (0, 1), got ${preview(eps)}`);
  // The kernels add it in float32: below float32's smallest normal number (1.18e-38) it is 0 or
  // subnormal there, and a row of equal values then divides by 0 (round eleven: a NaN blamed on the weights).
  if ((eps as number) < FLOAT32_MIN_NORMAL) bad(`field layer_norm_eps is ${preview(eps)}, below float32's smallest normal number ${FLOAT32_MIN_NORMAL.toPrecision(3)}: the layernorm kernels would add 0; use a value of at least that (models use 1e-12 to 1e-5)`);
  const bools: Record<string, boolean> = {};
  for (const [f, dflt] of Object.entries(BOOL_FIELDS)) {
    const v = o[f] ?? dflt;
    if (typeof v !== 'boolean') bad(`field ${f} must be true or false, got ${preview(v)}`);
    bools[f] = v as boolean;
  }
  const pooling = o.pooling ?? 'cls';
  if (pooling !== 'cls' && pooling !== 'mean' && pooling !== 'cls+mean' && pooling !== 'map') bad(`field pooling must be "cls", "mean", "cls+mean" or "map", got ${preview(pooling)}`);
  const act = o.hidden_act;
  if (act !== undefined && (typeof act !== 'string' || !Object.hasOwn(MLP_ACTIVATIONS, act))) {
    bad(`field hidden_act must be one of ${Object.keys(MLP_ACTIVATIONS).map((a) => `"${a}"`).join(', ')} (or absent: "gelu"), got ${preview(act)}`);
  }
  if (o.pre_norm !== undefined && typeof o.pre_norm !== 'boolean') bad(`field pre_norm must be true or false, got ${preview(o.pre_norm)}`);
  const proj = o.projection_size;
  if (proj !== undefined) {
    if (typeof proj !== 'number' || !Number.isInteger(proj) || proj < 0) bad(`field projection_size must be an integer ≥ 0 (0: no projection), got ${preview(proj)}`);
    if ((proj as number) > LIMITS.hidden_size) bad(`field projection_size is ${proj}, above the limit of ${LIMITS.hidden_size} (${LIMITS_DOC})`);
  }
  const regs = o.register_tokens;
  if (regs !== undefined) {
    if (typeof regs !== 'number' || !Number.isInteger(regs) || regs < 0) bad(`field register_tokens must be an integer ≥ 0, got ${preview(regs)}`);
    if ((regs as number) > 1024) bad(`field register_tokens is ${regs}, above the limit of 1024 (${LIMITS_DOC})`);
  }
  if (o.mlp !== undefined && o.mlp !== 'swiglu') bad(`field mlp must be "swiglu" (or absent: none), got ${preview(o.mlp)}`);
  const c = { ...(o as object), ...bools, pooling } as ViTConfig;
  if (c.register_tokens && (!c.class_token || c.distilled)) bad('does not add up: register_tokens go after a class token, and not with a distillation token');
  if (c.distilled && !c.class_token) bad(`does not add up: distilled is true but class_token is false (a distillation token follows the class token)`);
  if ((c.pooling === 'cls' || c.pooling === 'cls+mean') && !c.class_token) bad(`does not add up: pooling is "${c.pooling}" but class_token is false; use pooling "mean"`);
  if (c.pooling === 'cls+mean' && (c.distilled || c.fc_norm || c.projection_size)) bad('does not add up: pooling "cls+mean" (DINOv2) goes with one class token, no fc_norm and no projection');
  if (c.pooling === 'map' && (c.distilled || c.fc_norm || c.projection_size)) bad('does not add up: pooling "map" (SigLIP\'s attention-pooling head) goes with no distillation token, no fc_norm and no projection');
  if (c.hidden_size % c.num_heads !== 0) {
    bad(`does not add up: hidden_size ${c.hidden_size} is not divisible by num_heads ${c.num_heads} (head size would be ${(c.hidden_size / c.num_heads).toFixed(2)})`);
  }
  if (c.image_size % c.patch_size !== 0) {
    bad(`does not add up: image_size ${c.image_size} is not divisible by patch_size ${c.patch_size}`);
  }
  const sizeError = sizeLimitError(c);
  if (sizeError) bad(sizeError);
  return c;
}

/**
 * What, if anything, in a config (already within the per-field limits) is too big as a whole: the
 * patch count, or a tensor above LIMITS.tensor_values. Undefined when it fits.
 */
export function sizeLimitError(c: ViTConfig): string | undefined {
  const s = shapeOf(c);
  const patches = s.grid * s.grid;
  if (patches > LIMITS.patches) {
    return `has ${patches} patches per image ((image_size ${c.image_size} / patch_size ${c.patch_size})²), above the limit of ${LIMITS.patches} (${LIMITS_DOC})`;
  }
  const D = c.hidden_size;
  const tensors: [string, number][] = [
    ['patch_embed.weight', s.patchInner * D],
    ['pos_embed', s.tokens * D],
    ['blocks.*.attn.qkv.weight', 3 * D * D],
    ['blocks.*.mlp.fc1.weight', D * c.mlp_size * (c.mlp ? 2 : 1)],
    ['head.weight', s.featureSize * c.num_classes],
    ['proj.weight', s.pooledSize * (c.projection_size ?? 0)],
    ['one input image', s.imageValues],
    ...(familyOf(c)?.tensorSizes?.(c, s) ?? []),
  ];
  for (const [name, n] of tensors) {
    if (n > LIMITS.tensor_values) return `makes ${name} ${n} values, above the limit of ${LIMITS.tensor_values} values per tensor (${LIMITS_DOC})`;
  }
  return undefined;
}

/**
 * What a model family (docs/adding-a-family.md) adds to the one model definition when a model
 * runs: the config fields it owns, the tensors they size, and the graph pieces they switch on
 * through the graph's hooks. Each family's folder writes one (src/model/families/<name>/model.ts)
 * and its registry line (src/model/families/index.ts) registers it; nothing outside the folder
 * names the family or its fields.
 *
 * The families' code is not part of a page's first download: a page reads a family's weight file
 * with loadWeights, which fetches the on-demand chunk (src/on_demand.ts) and registers them first.
 * Node's entry points register every family at start.
 */
export interface FamilyModel {
  /** Its `family` in the config (`webvit.config`). */
  name: string;
  /** What `inspect` calls a model of it, given its config (e.g. "CLIP image tower"). */
  title(c: ViTConfig): string;
  /** What sets the config apart, in words, for `inspect` (its own fields, say). */
  describe?(c: ViTConfig): string[];
  /**
   * The config fields it owns, absent when unused: each a check of a present value, returning what
   * is wrong with it ("must be ... , got ...") or undefined when it is good.
   */
  fields?: Record<string, (value: unknown) => string | undefined>;
  /** The tensors its fields size, [name, values], held to LIMITS.tensor_values with the others. */
  tensorSizes?(c: ViTConfig, s: ViTShape): [string, number][];
  /**
   * Graph hook: the weight block `block`'s attention adds to its scores, [heads, T, T] (the
   * attention kernels' `bias`), by name; undefined for none.
   */
  attentionBias?(c: ViTConfig, block: number): string | undefined;
  /** Its architectures at published sizes, for benchmarks (`webvit bench model --model NAME`). */
  presets?: Record<string, ViTConfig>;
  /** The Hugging Face model_type values its converter reads (checked before a Hub download). */
  hfModelTypes?: readonly string[];
}

const registered = new Map<string, FamilyModel>();
let complete = false;

/**
 * The families a config may name: "vit" (ViT and DeiT, the plain model; what an absent `family`
 * means) and every registered family. In Node all are registered at start; on a page, once a
 * family's weights have been loaded.
 */
export const MODEL_FAMILIES: readonly string[] = ['vit'];
export type ModelFamily = string;

/** Registers every family (the registry, src/model/families/index.ts, does it). */
export function registerFamilyModels(models: readonly FamilyModel[]): void {
  for (const m of models) {
    if (!registered.has(m.name)) (MODEL_FAMILIES as string[]).push(m.name);
    registered.set(m.name, m);
  }
  complete = true;
}

/** Whether every family is registered (the registry has been loaded), so an unknown name is unknown, not just not loaded yet. */
export const allFamiliesRegistered = (): boolean => complete;

/**
 * The family model of a config: undefined for a plain ViT. A config naming a family that is not
 * registered is refused: building its graph without the family's pieces would compute another model.
 */
export function familyOf(c: ViTConfig): FamilyModel | undefined {
  if (c.family === undefined || c.family === 'vit') return undefined;
  const m = registered.get(c.family);
  if (!m) throw new WebvitError('BAD_ARGUMENT', `model family "${clip(String(c.family), 80)}" is not loaded: read its weights with loadWeights`);
  return m;
}
