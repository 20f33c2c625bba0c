/**
 * Mutual authentication, outside the datapath (the agent side of DESIGN.md's
 * auth/): SPIFFE IDs and X.509-SVIDs, identity providers (built-in CA,
 * SPIRE), the agent-to-agent TLS 1.3 handshake, and the auth manager that
 * turns the datapath's auth-required events into auth map entries.
 */
export * from "./spiffe-id.ts";
export {
  type SvidRejection,
  type SvidRejectionReason,
  type VerifiedSvid,
  validateX509Svid,
} from "./x509-svid.ts";
