/**
 * Cilium's alignchecker, for strait: every codec's struct layout (size and
 * each field's offset and size) must equal the struct in the compiled
 * object's BTF, so the C and TypeScript sides cannot drift apart.
 */

import { describe, expect, it } from "vitest";
import { nativeBuilt } from "../../../test/support/kernel.ts";
import { addon, LXC_OBJECT_PATH } from "../native.ts";
import { AUTH_INFO, AUTH_KEY } from "./auth.ts";
import { COUNTER } from "./counters.ts";
import { CT_ENTRY, CT_KEY } from "./ct.ts";
import { ENCRYPT_INFO, ENCRYPT_KEY } from "./encrypt.ts";
import { ENDPOINT_INFO, ENDPOINT_KEY } from "./endpoints.ts";
import { FLOW_EVENT } from "./flow-event.ts";
import { IPCACHE_INFO, IPCACHE_KEY } from "./ipcache.ts";
import type { StructLayout } from "./layout.ts";
import { MESH_SVC_INFO, MESH_SVC_KEY } from "./mesh.ts";
import { POLICY_ENTRY, POLICY_KEY } from "./policy.ts";

const LAYOUTS: readonly StructLayout[] = [
  ENDPOINT_KEY,
  ENDPOINT_INFO,
  IPCACHE_KEY,
  IPCACHE_INFO,
  POLICY_KEY,
  POLICY_ENTRY,
  CT_KEY,
  CT_ENTRY,
  AUTH_KEY,
  AUTH_INFO,
  FLOW_EVENT,
  COUNTER,
  MESH_SVC_KEY,
  MESH_SVC_INFO,
  ENCRYPT_KEY,
  ENCRYPT_INFO,
];

describe.skipIf(!nativeBuilt)(
  "codec layouts match the BTF of build/bpf/lxc.o (needs node scripts/build-native.ts)",
  () => {
    for (const l of LAYOUTS) {
      it(`struct ${l.struct}`, () => {
        const btf = addon().btfStruct(LXC_OBJECT_PATH, l.struct);
        expect(btf, `struct ${l.struct} is not in the object's BTF`).not.toBeNull();
        expect(l.size).toBe(btf?.size);
        const fromBtf = Object.fromEntries(
          (btf?.members ?? []).map((m) => [m.name, { offset: m.offset, size: m.size }]),
        );
        expect(l.fields).toEqual(fromBtf);
      });
    }
  },
);
