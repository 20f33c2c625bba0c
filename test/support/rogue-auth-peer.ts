/**
 * A peer agent that lies, for the fail-closed cases of the mutual-auth
 * end-to-end test: strait's own handshake server (src/auth/handshake), run
 * with an identity provider that holds, for the identity it is asked about, a
 * certificate a real agent would never present. The certificates come from
 * the real built-in CA, so only the property under test is wrong:
 *   node rogue-auth-peer.ts CA_DIR TRUST_DOMAIN HOST PORT IDENTITY MODE
 * MODE `wrong-identity`: the SVID of identity 4242 in place of IDENTITY's;
 * MODE `expired`: IDENTITY's own SVID, expired an hour ago.
 * Prints `{"url": …}` when listening and `{"result": …}` per handshake.
 */
import { CertificateAuthority } from "../../src/auth/builtin-ca/authority.ts";
import { HandshakeServer } from "../../src/auth/handshake/server.ts";
import { MemoryIdentityProvider } from "../../src/auth/memory-provider.ts";
import { identitySpiffeId, parseTrustDomain } from "../../src/auth/spiffe-id.ts";
import { svidFrom } from "../../src/auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../../src/auth/trust-bundle.ts";

const [caDir = "", td = "", host = "", port = "0", identityText = "", mode = ""] = process.argv.slice(2);
const trustDomain = parseTrustDomain(td);
if (!trustDomain.ok) throw new Error(trustDomain.error);
const identity = Number(identityText);
const ca = await CertificateAuthority.loadOrCreate(trustDomain.value, caDir, new Date());
const provider = new MemoryIdentityProvider(trustDomain.value, "rogue");
const bundle = trustBundle(trustDomain.value, [ca.rootDer]);
if (!bundle.ok) throw new Error(bundle.error);
provider.setBundles(bundleSet(bundle.value));
const hourAgo = new Date(Date.now() - 2 * 3600_000);
const svid =
  mode === "wrong-identity"
    ? await svidFrom(ca, identitySpiffeId(trustDomain.value, 4242))
    : mode === "expired"
      ? await svidFrom(ca, identitySpiffeId(trustDomain.value, identity), { now: hourAgo, ttlMs: 3600_000 })
      : undefined;
if (svid === undefined) throw new Error(`unknown mode ${mode}`);
provider.setSvid(identity, svid);
const server = new HandshakeServer({
  provider,
  // Never back a peer off: every attempt must meet the bad certificate, not a refused connection.
  failuresBeforeBackoff: Number.MAX_SAFE_INTEGER,
  onResult: (r) => process.stdout.write(`${JSON.stringify({ result: r })}\n`),
});
const bound = await server.listen(Number(port), host);
process.stdout.write(`${JSON.stringify({ url: `${host}:${bound.port}` })}\n`);
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
