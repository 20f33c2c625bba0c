import { describe, expect, it } from "vitest";
import { TYPE_URLS } from "../../xds/proto/index.ts";
import { envoyResources, renderTable, sideBySide } from "./proxy-config.ts";

const cluster = (name: string, timeout = "5s") => ({
  name,
  type: "EDS",
  connect_timeout: timeout,
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
});

/** A config dump shaped as Envoy 1.40 writes it (the fields strait reads). */
const dump = {
  configs: [
    {
      "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
      static_clusters: [{ cluster: { "@type": "x", name: "strait-xds" } }],
      dynamic_active_clusters: [
        { version_info: "v1", cluster: { "@type": TYPE_URLS.cluster, ...cluster("a/same:80") } },
        { version_info: "v0", cluster: { "@type": TYPE_URLS.cluster, ...cluster("a/old:80", "1s") } },
        { version_info: "v9", cluster: { "@type": TYPE_URLS.cluster, ...cluster("a/gone:80") } },
      ],
      dynamic_warming_clusters: [
        { version_info: "v1", cluster: { "@type": TYPE_URLS.cluster, ...cluster("a/warming:80") } },
      ],
    },
    {
      "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
      dynamic_listeners: [
        {
          name: "a/gw/80",
          error_state: { details: "error adding listener: duplicate matcher", last_update_attempt: "now" },
        },
      ],
    },
  ],
};

describe("proxy-config side by side", () => {
  const served = [
    { typeUrl: TYPE_URLS.cluster, name: "a/same:80", version: "v1", resource: cluster("a/same:80") },
    { typeUrl: TYPE_URLS.cluster, name: "a/old:80", version: "v1", resource: cluster("a/old:80") },
    { typeUrl: TYPE_URLS.cluster, name: "a/warming:80", version: "v1", resource: cluster("a/warming:80") },
    { typeUrl: TYPE_URLS.cluster, name: "a/new:80", version: "v1", resource: cluster("a/new:80") },
    { typeUrl: TYPE_URLS.listener, name: "a/gw/80", version: "v2", resource: { name: "a/gw/80" } },
  ];

  it("tells each state apart, comparing contents and not only versions", () => {
    const rows = sideBySide(served, envoyResources(dump), ["clusters", "listeners"]);
    expect(rows.map((r) => [r.kind, r.name, r.state])).toEqual([
      ["clusters", "a/gone:80", "EXTRA"],
      ["clusters", "a/new:80", "MISSING"],
      ["clusters", "a/old:80", "DIFFERS"],
      ["clusters", "a/same:80", "SYNCED"],
      ["clusters", "a/warming:80", "WARMING"],
      ["listeners", "a/gw/80", "REJECTED"],
    ]);
    expect(renderTable(rows)).toContain("listeners a/gw/80: error adding listener: duplicate matcher");
  });

  it("ignores the static resources of the bootstrap (strait's own xDS cluster)", () => {
    expect(envoyResources(dump).map((r) => r.name)).not.toContain("strait-xds");
  });
});
