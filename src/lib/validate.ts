// Input validation at the HTTP edges: a zod schema turns untrusted input into typed values, or
// into one 400 naming the first field that is wrong.
import type { z } from 'zod';
import { PalisadeError, registerErrorCode } from './errors.js';

const BAD_REQUEST = registerErrorCode('PALISADE_BAD_REQUEST', 400);

export class BadRequestError extends PalisadeError {
  readonly code = BAD_REQUEST;
}

export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new BadRequestError(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return result.data;
}
