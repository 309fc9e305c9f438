/**
 * The one test the page itself runs on a model string (src/web/options.ts): is it a Hub id? Apart
 * from id.ts (parsing with messages, URLs), which only the on-demand Hub loader needs.
 */

/**
 * Whether a string given where a path or an id may go reads as an id: `hf:` anything, or exactly
 * `org/name[@rev]` in the id alphabet, not starting with `.` or `/` and not ending in a file
 * extension webvit reads (`x/model.safetensors` is a path that does not exist, not a repository).
 * The caller checks the local path first: an existing path always wins.
 */
export function looksLikeModelId(text: string): boolean {
  if (text.startsWith('hf:')) return true;
  const id = text.split('@')[0];
  // idProblem's rules as one test (the page bundles this, not the messages).
  return ORG_NAME.test(id) && !/--|\.\.|\.(git|safetensors|json|bin|pt|pth|ckpt|png|jpe?g|webp|gif|bmp)$/i.test(id);
}

const ORG_NAME = /^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?\/[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$/;
