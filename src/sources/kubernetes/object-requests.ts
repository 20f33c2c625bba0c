/**
 * The two writes the leader's object writers make (owned objects, identity
 * records): a forced server-side apply under strait's field manager, and a
 * delete that holds only while the object is still the one the store shows.
 */
import type { KubeClient, KubeResponse } from "./kube-client.ts";
import { FIELD_MANAGER } from "./owned-object.ts";

/** Server-side apply of `body` at `path` (field manager `strait`, forced: strait owns what it applies). */
export function serverSideApply(client: KubeClient, path: string, body: unknown): Promise<KubeResponse> {
  return client.request("PATCH", path, {
    query: { fieldManager: FIELD_MANAGER, force: true },
    body,
    contentType: "application/apply-patch+yaml",
  });
}

/** Deletes the object at `path` only if its uid and resourceVersion are still these (else 409). */
export function deleteIfUnchanged(
  client: KubeClient,
  path: string,
  live: { readonly uid?: string | undefined; readonly resourceVersion?: string | undefined },
): Promise<KubeResponse> {
  return client.request("DELETE", path, {
    body: {
      apiVersion: "v1",
      kind: "DeleteOptions",
      preconditions: {
        ...(live.uid === undefined ? {} : { uid: live.uid }),
        ...(live.resourceVersion === undefined ? {} : { resourceVersion: live.resourceVersion }),
      },
    },
  });
}
