/**
 * The verbs of strait-cni. Output: the result (ADD passes prevResult on),
 * or the spec's error object with a non-zero exit.
 */
import { agentRequest } from "../agent/client.ts";
import {
  attachmentFromResult,
  CNI_ERROR,
  type CniError,
  CniFailure,
  type NetConf,
  parseNetConf,
  podFromCniArgs,
  SUPPORTED_VERSIONS,
} from "./spec.ts";

const DEFAULT_SOCKET = "/run/strait/agent.sock";

export interface CniIO {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: string;
}

export interface CniOutput {
  readonly exitCode: number;
  readonly stdout: string;
}

function need(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === "") throw new CniFailure(CNI_ERROR.INVALID_ENVIRONMENT, `${name} is not set`);
  return v;
}

async function callAgent(
  conf: NetConf,
  path: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const socket = conf.agentSocket ?? DEFAULT_SOCKET;
  try {
    return await agentRequest(socket, "POST", path, body);
  } catch (error) {
    throw new CniFailure(
      CNI_ERROR.TRY_AGAIN_LATER,
      `cannot reach the strait agent at ${socket}`,
      (error as Error).message,
    );
  }
}

function agentError(res: { status: number; body: unknown }): string {
  const b = res.body as { error?: unknown } | undefined;
  return typeof b?.error === "string" ? b.error : `status ${res.status}`;
}

async function add(conf: NetConf, env: NodeJS.ProcessEnv): Promise<string> {
  const containerId = need(env, "CNI_CONTAINERID");
  const netns = need(env, "CNI_NETNS");
  const ifName = need(env, "CNI_IFNAME");
  const found = attachmentFromResult(conf.prevResult, ifName);
  const pod = podFromCniArgs(env.CNI_ARGS);
  const res = await callAgent(conf, "/api/v1/cni/add", {
    containerId,
    ifName,
    netns,
    ...found,
    ...(pod === undefined ? {} : { pod }),
  });
  if (res.status !== 200) {
    throw new CniFailure(
      CNI_ERROR.AGENT_REFUSED,
      "the strait agent could not attach the pod",
      agentError(res),
    );
  }
  return JSON.stringify({ ...(conf.prevResult as object), cniVersion: conf.cniVersion });
}

async function del(conf: NetConf, env: NodeJS.ProcessEnv): Promise<string> {
  const containerId = need(env, "CNI_CONTAINERID");
  const ifName = need(env, "CNI_IFNAME");
  let res: { status: number; body: unknown };
  try {
    res = await callAgent(conf, "/api/v1/cni/del", { containerId, ifName });
  } catch {
    // The spec wants DEL to succeed when there is nothing left to release: no agent, no attachment.
    return "";
  }
  if (res.status !== 200)
    throw new CniFailure(CNI_ERROR.AGENT_REFUSED, "the strait agent refused DEL", agentError(res));
  return "";
}

async function check(conf: NetConf, env: NodeJS.ProcessEnv): Promise<string> {
  const containerId = need(env, "CNI_CONTAINERID");
  need(env, "CNI_NETNS");
  const ifName = need(env, "CNI_IFNAME");
  attachmentFromResult(conf.prevResult, ifName);
  const res = await callAgent(conf, "/api/v1/cni/check", { containerId, ifName });
  if (res.status !== 200) {
    throw new CniFailure(
      CNI_ERROR.UNKNOWN_CONTAINER,
      `attachment ${containerId}/${ifName} is not in place`,
      agentError(res),
    );
  }
  return "";
}

async function gc(conf: NetConf): Promise<string> {
  const raw = conf["cni.dev/valid-attachments"];
  const valid = (Array.isArray(raw) ? raw : []).map((a: { containerID?: string; ifname?: string }) => ({
    containerId: a.containerID,
    ifName: a.ifname,
  }));
  const res = await callAgent(conf, "/api/v1/cni/gc", { valid });
  if (res.status !== 200)
    throw new CniFailure(CNI_ERROR.AGENT_REFUSED, "the strait agent refused GC", agentError(res));
  return "";
}

async function status(conf: NetConf): Promise<string> {
  let res: { status: number };
  try {
    res = await agentRequest(conf.agentSocket ?? DEFAULT_SOCKET, "GET", "/readyz", undefined, 3000);
  } catch (error) {
    throw new CniFailure(
      CNI_ERROR.PLUGIN_NOT_AVAILABLE,
      "the strait agent is not running",
      (error as Error).message,
    );
  }
  if (res.status !== 200)
    throw new CniFailure(CNI_ERROR.PLUGIN_NOT_AVAILABLE, "the strait agent is not ready");
  return "";
}

function versionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === "string" ? v : "1.1.0";
  } catch {
    return "1.1.0";
  }
}

export async function runCni(io: CniIO): Promise<CniOutput> {
  const command = io.env.CNI_COMMAND;
  try {
    if (command === "VERSION") {
      return {
        exitCode: 0,
        stdout: JSON.stringify({ cniVersion: "1.1.0", supportedVersions: SUPPORTED_VERSIONS }),
      };
    }
    if (command === undefined || command === "")
      throw new CniFailure(CNI_ERROR.INVALID_ENVIRONMENT, "CNI_COMMAND is not set");
    if (!["ADD", "DEL", "CHECK", "GC", "STATUS"].includes(command)) {
      throw new CniFailure(
        CNI_ERROR.INVALID_ENVIRONMENT,
        `unknown CNI_COMMAND "${command}"`,
        "expected ADD, DEL, CHECK, GC, STATUS or VERSION",
      );
    }
    const conf = parseNetConf(io.stdin);
    const out =
      command === "ADD"
        ? await add(conf, io.env)
        : command === "DEL"
          ? await del(conf, io.env)
          : command === "CHECK"
            ? await check(conf, io.env)
            : command === "GC"
              ? await gc(conf)
              : await status(conf);
    return { exitCode: 0, stdout: out };
  } catch (error) {
    const failure =
      error instanceof CniFailure
        ? error
        : new CniFailure(CNI_ERROR.IO_FAILURE, "internal error", (error as Error).message);
    const body: CniError = {
      cniVersion: versionOf(io.stdin),
      code: failure.code,
      msg: failure.message,
      ...(failure.details === undefined ? {} : { details: failure.details }),
    };
    return { exitCode: 1, stdout: JSON.stringify(body) };
  }
}
