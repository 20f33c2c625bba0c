/**
 * SPIRE's API definitions, read from the spire-api-sdk Go module that
 * tools/go/spire/go.mod pins (the Go module cache holds it after
 * scripts/build-spire.sh), never copied into this repository. The folder
 * can be given with STRAIT_SPIRE_API_PROTO_DIR (the module's `proto/`);
 * otherwise `go mod download -json` finds it. Loaded with protobufjs and
 * served to @grpc/grpc-js as generic clients.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { ERROR_CODES, StraitError } from "../../errors.ts";

const WRAPPER = join(import.meta.dirname, "../../../tools/go/spire");

let cachedDir: string | undefined;

export function spireProtoDir(): string {
  if (cachedDir !== undefined) return cachedDir;
  const given = process.env.STRAIT_SPIRE_API_PROTO_DIR;
  if (given !== undefined && given !== "") {
    cachedDir = given;
    return given;
  }
  try {
    const out = execFileSync("go", ["mod", "download", "-json", "github.com/spiffe/spire-api-sdk"], {
      cwd: WRAPPER,
      encoding: "utf8",
      env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" },
    });
    const dir = join((JSON.parse(out) as { Dir: string }).Dir, "proto");
    if (!existsSync(dir)) throw new Error(`${dir} does not exist`);
    cachedDir = dir;
    return dir;
  } catch (cause) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "cannot find the spire-api-sdk protos: set STRAIT_SPIRE_API_PROTO_DIR or run scripts/build-spire.sh",
      { cause },
    );
  }
}

let cachedRoot: protobuf.Root | undefined;

export function spireRoot(): protobuf.Root {
  if (cachedRoot !== undefined) return cachedRoot;
  const dir = spireProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync(
    ["spire/api/agent/delegatedidentity/v1/delegatedidentity.proto", "spire/api/server/entry/v1/entry.proto"],
    { keepCase: true },
  );
  root.resolveAll();
  cachedRoot = root;
  return root;
}

const CONVERSION = { longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true } as const;

/** A grpc-js client constructor for a service of the SPIRE API, messages as plain objects. */
export function spireServiceClient(serviceName: string): grpc.ServiceClientConstructor {
  const service = spireRoot().lookupService(serviceName);
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of Object.values(service.methods)) {
    const req = method.resolvedRequestType as protobuf.Type;
    const res = method.resolvedResponseType as protobuf.Type;
    definition[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: (v: object) => Buffer.from(req.encode(req.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), CONVERSION),
      responseSerialize: (v: object) => Buffer.from(res.encode(res.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), CONVERSION),
    };
  }
  return grpc.makeGenericClientConstructor(definition, service.name);
}
