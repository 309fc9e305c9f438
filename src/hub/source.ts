import { looksLikeModelId } from './looks_like_id.js';

/**
 * What a model argument names, decided in one place for every entry point (the CLI's --model and
 * SRC, createImageClassifier in Node and in a page, its worker): docs/model-ids.md.
 * - 'bytes': an ArrayBuffer or a typed array (a webvit file's bytes); 'response': a fetch Response;
 * - a string or URL: where local files exist (`exists` given: Node), an existing path wins unless
 *   the text starts with `hf:`; then a Hugging Face Hub id (looksLikeModelId: `org/name[@rev]`,
 *   `hf:…`); then, in Node, a `file:` URL or text without a URL scheme is a path (the file reader
 *   says when it is missing), and anything else is a URL.
 * Undefined: none of these (the caller names what it takes).
 */
export type ModelSourceKind = 'bytes' | 'response' | 'url' | 'path' | 'id';

export function modelSourceKind(model: unknown, exists?: (path: string) => boolean): ModelSourceKind | undefined {
  if (model instanceof ArrayBuffer || ArrayBuffer.isView(model)) return 'bytes';
  if (typeof Response != 'undefined' && model instanceof Response) return 'response';
  const text = model instanceof URL ? model.href : model;
  if (typeof text != 'string') return undefined;
  if (model == text && exists && !text.startsWith('hf:') && exists(text)) return 'path';
  if (model == text && looksLikeModelId(text)) return 'id';
  return exists && (text.startsWith('file:') || !/^[a-z][\w+.-]*:/i.test(text)) ? 'path' : 'url';
}
