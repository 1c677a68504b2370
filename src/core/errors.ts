/**
 * The base of every coded error in Indelible.
 *
 * Each module declares a string-literal union of its codes and a subclass
 * (`class JcsError extends IndelibleError<JcsErrorCode> {}`); tests assert the `code`, never the
 * message, and the HTTP edge maps codes to status and problem+json in one table.
 */
export class IndelibleError<C extends string = string> extends Error {
  readonly code: C;
  /** Machine-readable evidence (field names, indices, both checkpoints, …). Never secrets. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

/** True when `err` is an IndelibleError whose code is one of `codes` (or any code when none are given). */
export function isIndelibleError(err: unknown, ...codes: string[]): err is IndelibleError {
  return err instanceof IndelibleError && (codes.length === 0 || codes.includes(err.code));
}
