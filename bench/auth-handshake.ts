/**
 * Mutual-auth handshakes per second: the real handshake (src/auth/handshake,
 * TLS 1.3 through node:tls, P-256 SVIDs from the built-in CA, full X.509-SVID
 * validation on both sides) between a client and a server on loopback in
 * this one process, so both ends share one core: the number is handshakes
 * per second per core for client + server work together.
 *
 *   node bench/auth-handshake.ts [count] [concurrency]
 */
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { authenticate } from "../src/auth/handshake/client.ts";
import { HandshakeServer } from "../src/auth/handshake/server.ts";
import { MemoryIdentityProvider } from "../src/auth/memory-provider.ts";
import { DEFAULT_TRUST_DOMAIN, identitySpiffeId } from "../src/auth/spiffe-id.ts";
import { svidFrom } from "../src/auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../src/auth/trust-bundle.ts";

const count = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 8);
const td = DEFAULT_TRUST_DOMAIN;
const ca = await CertificateAuthority.generate(td, new Date());
const bundle = trustBundle(td, [ca.rootDer]);
if (!bundle.ok) throw new Error(bundle.error);
const provider = new MemoryIdentityProvider(td);
provider.setBundles(bundleSet(bundle.value));
provider.setSvid(1001, await svidFrom(ca, identitySpiffeId(td, 1001)));
provider.setSvid(1002, await svidFrom(ca, identitySpiffeId(td, 1002)));
const server = new HandshakeServer({
  provider,
  maxPerPeer: 1024,
  maxConnections: 4096,
  failuresBeforeBackoff: 1e9,
});
const { port } = await server.listen(0, "127.0.0.1");
const req = { localIdentity: 1001, remoteIdentity: 1002, host: "127.0.0.1", port };

for (let i = 0; i < 50; i++) await authenticate(provider, req); // warm-up

const durations: number[] = [];
let failed = 0;
let next = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      const r = await authenticate(provider, req);
      if (r.ok) durations.push(r.value.durationMs);
      else failed++;
    }
  }),
);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
durations.sort((a, b) => a - b);
const q = (p: number) =>
  durations[Math.min(durations.length - 1, Math.floor(p * durations.length))]?.toFixed(2);
console.log(
  JSON.stringify({
    count,
    concurrency,
    failed,
    wallSeconds: +wall.toFixed(2),
    handshakesPerSecond: +(count / wall).toFixed(0),
    handshakesPerCpuSecond: +(count / cpuSeconds).toFixed(0),
    latencyMs: { p50: q(0.5), p99: q(0.99) },
  }),
);
await server.close();
