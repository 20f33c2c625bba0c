/**
 * The built-in CA's issuer as a process of its own, for end-to-end tests
 * that need it inside a lab's network namespace (run under nsenter):
 *   node builtin-ca-issuer.ts CA_DIR TRUST_DOMAIN HOST PORT TTL_MS NODE=TOKEN[,NODE=TOKEN]
 * Prints one JSON line `{"url": …}` when listening. It issues any identity
 * to any known node token: the agents of these tests take their desired state
 * from their local API, not from a controller, so no pass says which
 * identities live on which node. The controller's issuer, which does
 * (`strait run --builtin-ca-dir`), is tested in src/controller/auth-serving.test.ts.
 */
import { CertificateAuthority } from "../../src/auth/builtin-ca/authority.ts";
import { startIssuerServer } from "../../src/auth/builtin-ca/issuer-server.ts";
import { parseTrustDomain } from "../../src/auth/spiffe-id.ts";

const [caDir = "", td = "", host = "", port = "0", ttl = "3600000", tokens = ""] = process.argv.slice(2);
const trustDomain = parseTrustDomain(td);
if (!trustDomain.ok) throw new Error(trustDomain.error);
const ca = await CertificateAuthority.loadOrCreate(trustDomain.value, caDir, new Date());
const nodeTokens = new Map(
  tokens
    .split(",")
    .filter((t) => t !== "")
    .map((t) => {
      const [node = "", token = ""] = t.split("=");
      return [token, node] as const;
    }),
);
const issuer = await startIssuerServer(
  {
    ca,
    nodeTokens,
    mayIssue: () => true,
    svidTtlMs: Number(ttl),
    onIssued: (node, identity) => process.stdout.write(`${JSON.stringify({ issued: { node, identity } })}\n`),
  },
  { host, port: Number(port) },
);
process.stdout.write(`${JSON.stringify({ url: issuer.url })}\n`);
process.on("SIGTERM", () => void issuer.close().then(() => process.exit(0)));
