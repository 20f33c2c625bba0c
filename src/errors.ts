/**
 * strait's exception catalogue. Expected failures (invalid input, unresolved
 * references) are values, not exceptions; a StraitError is for bugs and I/O,
 * always with a code from this catalogue and the original `cause` kept.
 */
export const ERROR_CODES = {
  /** Command-line usage: unknown flag, missing argument. */
  USAGE: "E_USAGE",
  /** A file or folder could not be read. */
  IO_READ: "E_IO_READ",
  /** A file or folder could not be written. */
  IO_WRITE: "E_IO_WRITE",
  /** A network listener could not bind or a peer could not be reached. */
  NETWORK: "E_NETWORK",
  /** The Kubernetes API answered with an error we cannot recover from. */
  KUBE_API: "E_KUBE_API",
  /** Configuration (flags, config file, environment) is invalid. */
  CONFIG: "E_CONFIG",
  /** An Envoy resource failed protobuf encoding or validation: a translator bug. */
  PROTO: "E_PROTO",
  /** The kernel refused a BPF, netlink or netfilter operation. */
  KERNEL: "E_KERNEL",
  /** An invariant the code relies on did not hold: a bug. */
  INTERNAL: "E_INTERNAL",
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class StraitError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StraitError";
    this.code = code;
  }
}

/** The message of anything thrown, for logs and status conditions. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
