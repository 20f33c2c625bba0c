/**
 * A client of Envoy's admin interface: readiness (`/ready`), the running
 * configuration (`/config_dump`, with EDS), server info. What
 * `strait proxy-config`, the supervisor and the tests read.
 */
import { request } from "node:http";
import { ERROR_CODES, StraitError } from "../errors.ts";

export interface EnvoyAdmin {
  readonly address: string;
  /** `LIVE` once Envoy finished initializing (its first LDS/CDS answers applied). */
  ready(): Promise<{ readonly status: number; readonly state: string }>;
  /** `/config_dump?include_eds` as JSON. */
  configDump(): Promise<{ readonly configs: readonly Record<string, unknown>[] }>;
  serverInfo(): Promise<Record<string, unknown>>;
  /** Counters and gauges (`/stats?format=json`), by name. */
  stats(filter?: string): Promise<ReadonlyMap<string, number>>;
  /** A raw GET (or POST) on the admin interface. */
  get(path: string, method?: "GET" | "POST"): Promise<{ readonly status: number; readonly body: string }>;
}

export function envoyAdmin(address: string, timeoutMs = 5000): EnvoyAdmin {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(colon + 1));
  const get = (path: string, method: "GET" | "POST" = "GET") =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host, port, path, method, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.on("timeout", () =>
        req.destroy(new Error(`Envoy admin ${address}${path}: no answer in ${timeoutMs} ms`)),
      );
      req.on("error", (cause) =>
        reject(
          new StraitError(ERROR_CODES.NETWORK, `Envoy admin ${address}${path}: ${cause.message}`, { cause }),
        ),
      );
      req.end();
    });
  const json = async (path: string) => {
    const res = await get(path);
    if (res.status !== 200)
      throw new StraitError(
        ERROR_CODES.NETWORK,
        `Envoy admin ${address}${path} answered ${res.status}: ${res.body}`,
      );
    return JSON.parse(res.body) as Record<string, unknown>;
  };
  return {
    address,
    get,
    async ready() {
      const res = await get("/ready");
      return { status: res.status, state: res.body.trim() };
    },
    async configDump() {
      return (await json("/config_dump?include_eds")) as { configs: Record<string, unknown>[] };
    },
    serverInfo: () => json("/server_info"),
    async stats(filter) {
      const body = (await json(
        `/stats?format=json${filter === undefined ? "" : `&filter=${encodeURIComponent(filter)}`}`,
      )) as {
        stats?: { name?: string; value?: number }[];
      };
      const out = new Map<string, number>();
      for (const s of body.stats ?? [])
        if (s.name !== undefined && typeof s.value === "number") out.set(s.name, s.value);
      return out;
    },
  };
}
