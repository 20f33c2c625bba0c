/**
 * Versions are content hashes: a resource's version is the hash of its
 * encoded bytes, a type's version the hash of its (name, version) pairs, so a
 * controller that restarts and computes the same configuration announces the
 * same versions and clients receive nothing new.
 */
import { createHash } from "node:crypto";

/** 64 bits of SHA-256 in hex: short in logs, far from colliding for a mesh's resource count. */
const VERSION_HEX_DIGITS = 16;

export function contentVersion(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, VERSION_HEX_DIGITS);
}

/** The version of an ordered list of parts (names, versions); the order matters. */
export function combinedVersion(parts: Iterable<string>): string {
  // One update of the joined text: a native call per part costs more than the hashing.
  return createHash("sha256")
    .update([...parts].join("\0"))
    .digest("hex")
    .slice(0, VERSION_HEX_DIGITS);
}
