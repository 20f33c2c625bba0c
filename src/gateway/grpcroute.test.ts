import { describe, expect, it } from "vitest";
import { methodPath } from "./grpcroute.ts";

describe("GRPCRoute method matches as path matches", () => {
  it.each([
    [undefined, { type: "PathPrefix", value: "/" }],
    [{}, { type: "PathPrefix", value: "/" }],
    [
      { service: "pkg.Svc", method: "Get" },
      { type: "Exact", value: "/pkg.Svc/Get" },
    ],
    [{ service: "pkg.Svc" }, { type: "RegularExpression", value: "/pkg\\.Svc/[^/]+" }],
    [{ method: "Get" }, { type: "RegularExpression", value: "/[^/]+/Get" }],
    [
      { type: "RegularExpression", service: "pkg\\..*", method: "Get.*" },
      { type: "RegularExpression", value: "/pkg\\..*/Get.*" },
    ],
    [
      { type: "RegularExpression", method: "Get" },
      { type: "RegularExpression", value: "/[^/]+/Get" },
    ],
  ])("%j → %j", (method, path) => {
    expect(methodPath(method)).toEqual(path);
  });

  it("an exact service-only match does not match another service that shares its prefix", () => {
    const { value } = methodPath({ service: "pkg.Svc" });
    const re = new RegExp(`^${value}$`);
    expect(re.test("/pkg.Svc/Get")).toBe(true);
    expect(re.test("/pkg.SvcTwo/Get")).toBe(false);
    expect(re.test("/pkgXSvc/Get")).toBe(false);
    expect(re.test("/pkg.Svc/Get/extra")).toBe(false);
  });
});
