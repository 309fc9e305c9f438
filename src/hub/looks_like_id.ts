/**
 * The one test the page itself runs on a model string (src/web/options.ts): is it a Hub id? Apart
 * from id.ts (parsing with messages, URLs), which only the on-demand Hub loader needs.
 */

/**
 * Whether a string given where a path or an id may go reads as an id: `hf:` anything, or exactly
 * `org/name[@rev]` in the id alphabet, not starting with `.` or `/` and not ending in a file
 * extension of a model file (`x/model.safetensors` is a path that does not exist, not a repository).
 * The caller checks the local path first: an existing path always wins.
 */
export function looksLikeModelId(text: string): boolean {
  // The shape only (org/name, no extension); parseModelId then holds it to the Hub's rules, naming
  // what is wrong (the page bundles this test, not the messages).
  return text.startsWith('hf:') || (/^\w[\w.-]*\/[\w.-]+(@.*)?$/.test(text) && !/\.(safetensors|json|bin|pth?|ckpt)(@|$)/.test(text));
}
