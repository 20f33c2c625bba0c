/**
 * The long-running commands (`strait run`, `strait agent`) run until SIGTERM
 * or SIGINT; this resolves on the first of them and logs which it was.
 */
import type { Logger } from "pino";

export function untilSignal(logger: Logger, message: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, message);
      process.off("SIGTERM", shutdown);
      process.off("SIGINT", shutdown);
      resolve(signal);
    };
    process.on("SIGTERM", shutdown);
    process.on("SIGINT", shutdown);
  });
}
