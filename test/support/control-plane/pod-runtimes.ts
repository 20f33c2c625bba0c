/**
 * Which program the node stand-in runs for a container image. There is no
 * container engine here, so only the images the conformance suite deploys are
 * known: the upstream echo-basic server (built from the gateway-api module at
 * the suite's version, whatever tag the image names) and the suite's CoreDNS,
 * for which a small DNS server answers what the suite asks of it
 * (dns-stand-in.ts). Any other image leaves its pod waiting (ErrImageNeverPull).
 */
import { join } from "node:path";

export interface PodRuntime {
  /** The command line; `path` maps a path inside a mounted volume to where the volume was written. */
  argv(container: { readonly args?: readonly string[] }, path: (p: string) => string): readonly string[];
}

export interface RuntimeBinaries {
  readonly echoBasic: string;
}

export function runtimeFor(image: string, binaries: RuntimeBinaries): PodRuntime | undefined {
  const repository = image.replace(/[:@].*$/, "");
  if (repository.endsWith("/gateway-api/echo-basic") || repository.endsWith("/echo-basic")) {
    return { argv: () => [binaries.echoBasic] };
  }
  if (repository.endsWith("/coredns/coredns") || repository.endsWith("/coredns")) {
    return {
      argv: (c, path) => [
        process.execPath,
        join(import.meta.dirname, "dns-stand-in.ts"),
        ...(c.args ?? []).map((a) => path(a)),
      ],
    };
  }
  return undefined;
}
