import { describe, expect, it } from "vitest";
import { ClusterIpAllocator, resolveServiceHost, type ServiceAddress } from "./service-addresses.ts";

describe("ClusterIpAllocator", () => {
  it("gives a Service the same address whatever the order, inside 10.96.0.0/16 and never .0.0/.0.1", () => {
    const a = new ClusterIpAllocator();
    const first = a.allocate("ns", "echo");
    a.allocate("ns", "other");
    const b = new ClusterIpAllocator();
    b.allocate("ns", "other");
    expect(b.allocate("ns", "echo")).toBe(first);
    expect(first).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(["10.96.0.0", "10.96.0.1", "10.96.255.255"]).not.toContain(first);
    expect(a.allocate("ns", "echo")).toBe(first);
  });

  it("moves to the next free address when the hashed one is taken, and frees released ones", () => {
    const a = new ClusterIpAllocator();
    const wanted = new ClusterIpAllocator().allocate("ns", "echo");
    a.reserve(wanted, "ns", "squatter");
    const got = a.allocate("ns", "echo");
    expect(got).not.toBe(wanted);
    a.release(got);
    a.release(wanted);
    expect(a.allocate("ns", "echo")).toBe(wanted);
  });
});

describe("resolveServiceHost", () => {
  const services: ServiceAddress[] = [
    { namespace: "mesh", name: "echo", clusterIP: "10.96.1.2" },
    { namespace: "other", name: "echo", clusterIP: "10.96.3.4" },
    { namespace: "mesh", name: "headless", clusterIP: undefined },
  ];
  const lookup = (ns: string, name: string) => services.find((s) => s.namespace === ns && s.name === name);

  it("resolves every form cluster DNS answers, in the client's namespace for a bare name", () => {
    for (const host of ["echo", "echo.mesh", "echo.mesh.svc", "echo.mesh.svc.cluster.local", "ECHO.mesh."])
      expect(resolveServiceHost(host, "mesh", lookup)).toEqual({
        kind: "resolved",
        address: "10.96.1.2",
        port: 80,
      });
    expect(resolveServiceHost("echo", "other", lookup)).toMatchObject({ address: "10.96.3.4" });
    expect(resolveServiceHost("echo.other:8080", "mesh", lookup)).toEqual({
      kind: "resolved",
      address: "10.96.3.4",
      port: 8080,
    });
  });

  it("passes an IPv4 address through with its port", () => {
    expect(resolveServiceHost("10.96.9.9:8080", "mesh", lookup)).toEqual({
      kind: "resolved",
      address: "10.96.9.9",
      port: 8080,
    });
  });

  it("fails for unknown names, headless Services, extra labels and bad ports", () => {
    expect(resolveServiceHost("nope", "mesh", lookup).kind).toBe("failed");
    expect(resolveServiceHost("echo.nowhere", "mesh", lookup).kind).toBe("failed");
    expect(resolveServiceHost("headless", "mesh", lookup)).toMatchObject({ reason: /headless/ });
    expect(resolveServiceHost("a.echo.mesh", "mesh", lookup).kind).toBe("failed");
    expect(resolveServiceHost("echo:0", "mesh", lookup).kind).toBe("failed");
    expect(resolveServiceHost("", "mesh", lookup).kind).toBe("failed");
  });
});
