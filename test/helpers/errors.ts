import { expect } from 'vitest';
import { WebvitError, type WebvitErrorCode } from '../../src/runtime/errors.js';

/** The error `fn` throws (or its promise rejects with); fails the test if it does not throw. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, but the call succeeded');
}

/**
 * Asserts `fn` fails with a WebvitError of `code` whose message contains every fragment (the
 * tensor or field it is about, the expected and the actual value). Returns the message.
 */
export async function expectWebvitError(fn: () => unknown, code: WebvitErrorCode | WebvitErrorCode[], fragments: (string | number)[]): Promise<string> {
  const e = await caught(fn);
  expect(e, `expected a WebvitError, got ${String(e)}`).toBeInstanceOf(WebvitError);
  const err = e as WebvitError;
  const codes = Array.isArray(code) ? code : [code];
  expect(codes, `code of: ${err.message}`).toContain(err.code);
  for (const f of fragments) expect(err.message, `message should mention ${JSON.stringify(String(f))}`).toContain(String(f));
  return err.message;
}
