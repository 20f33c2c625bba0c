/** One HTTP/1.1 request to an address, with the Host header a test chooses (as curl -H Host: does). */
import { request } from "node:http";

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export function httpRequest(
  address: string,
  port: number,
  options: {
    host?: string;
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address,
        port,
        path: options.path ?? "/",
        method: options.method ?? "GET",
        headers: { ...(options.host === undefined ? {} : { host: options.host }), ...options.headers },
        agent: false,
        timeout: options.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer from ${address}:${port} in ${options.timeoutMs ?? 5000} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}
