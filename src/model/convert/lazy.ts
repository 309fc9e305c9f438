/**
 * A converted tensor described before its values exist: how many values it has, which source
 * tensors it reads, and how it is made from them. The converters build one per output tensor from
 * the checkpoint's header, shapes and config alone; the values are made afterwards, either all at
 * once from a checkpoint in memory (convertCheckpoint) or one tensor at a time as the source
 * tensors arrive (stream.ts: each source tensor buffered only until every tensor that reads it is
 * made). A per-tensor transform of the output (a quantiser) takes the made values, so it slots in
 * after `make` in either path.
 *
 * `make` must not change the arrays `get` hands it (several tensors may read one source tensor).
 */
export type Get = (source: string) => Float32Array;

export class Lazy {
  constructor(
    /** Values it makes. */
    readonly length: number,
    /** The source tensors it reads (names in the checkpoint). */
    readonly deps: readonly string[],
    private readonly fn: (get: Get) => Float32Array,
    /**
     * Set when it is one source tensor's values, unchanged (after the take() checks): a streamed
     * conversion may copy such a tensor into the output as its bytes arrive.
     */
    readonly source?: string,
  ) {}

  make(get: Get): Float32Array {
    const v = this.fn(get);
    if (v.length !== this.length) throw new Error(`internal: a converted tensor made ${v.length} values, planned ${this.length}`);
    return v;
  }
}

/** Values known now (zeros, a computed constant). */
export const known = (a: Float32Array): Lazy => new Lazy(a.length, [], () => a);

/** `n` zeros, allocated when made. */
export const zeros = (n: number): Lazy => new Lazy(n, [], () => new Float32Array(n));

/** A tensor made from `parts` by `f` (which sees their values, in order); reads what they read. */
export function derive(parts: Lazy[], length: number, f: (values: Float32Array[]) => Float32Array): Lazy {
  const deps = [...new Set(parts.flatMap((p) => p.deps))];
  return new Lazy(length, deps, (get) => f(parts.map((p) => p.make(get))));
}
