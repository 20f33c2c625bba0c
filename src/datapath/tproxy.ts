/**
 * The node's rules for L7 redirect, Cilium's ABI: a packet the datapath
 * marked 0x0200 | be16(port) << 16 is steered by TPROXY to the proxy
 * listening on 127.0.0.1:<port>, and `ip rule fwmark 0x200/0xf00 lookup 2004`
 * (priority 9) with `local 0.0.0.0/0 dev lo` in table 2004 delivers it locally.
 *
 * nftables, not iptables, and why: strait owns one table (`ip strait`) and
 * replaces it whole in one `nft -f` transaction, so a change of proxy ports
 * never has a moment with the rules half there, and nothing of the node's
 * other rules (kube-proxy, the CNI's, the admin's) is touched or reordered.
 * iptables would mean editing shared chains rule by rule. The kernel side is
 * the same (nft_tproxy, nft_socket are what xt_TPROXY and xt_socket do).
 *
 * Loops, and the proxy's own traffic:
 *  - the proxy's upstream connections are locally generated: they never pass
 *    PREROUTING, and their mark (0x0A00 | identity, see bpf/lib/common.h) does
 *    not match 0x200/0xf00, so they are neither redirected nor routed to lo;
 *  - a packet belonging to a transparent socket of this node (the rest of a
 *    proxied connection, or replies to a proxy upstream socket bound to the
 *    original source) gets mark 0x200 first and is delivered to that socket
 *    through table 2004, instead of being forwarded on or redirected again.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { MARK, toProxyMark } from "./reasons.ts";

const run = promisify(execFile);

export const TPROXY_TABLE = "strait";
export const PROXY_ROUTE_TABLE = 2004;
export const PROXY_RULE_PRIORITY = 9;

function hexMark(mark: number): string {
  return `0x${mark.toString(16).padStart(8, "0")}`;
}

/** The nftables ruleset for the given proxy ports (pure: tests read it). */
export function tproxyRuleset(proxyPorts: readonly number[]): string {
  const ports = [...new Set(proxyPorts)].sort((a, b) => a - b);
  const lines = [
    `table ip ${TPROXY_TABLE} {`,
    // A redirected flow is not tracked, so no NAT rule of the node (kube-proxy's DNAT of a
    // ClusterIP runs at priority dstnat, after mangle) rewrites its destination before the proxy
    // accepts it: the accepted socket's local address must stay the original destination, which
    // the mesh listener's and the L7 listeners' filter chains match on. Cilium's raw-table
    // `-m mark --mark 0x200/0xf00 -j CT --notrack` does the same. Only packets the datapath
    // marked for a proxy match: replies to a proxy's sockets get 0x200 below, after raw.
    "  chain raw {",
    "    type filter hook prerouting priority raw; policy accept;",
    "    meta mark & 0x00000f00 == 0x00000200 notrack",
    "  }",
    // The proxy's side of the same flows: its transparent listeners set the proxy-reply mark
    // (SO_MARK, inherited by accepted sockets), and these packets stay untracked too. Tracked,
    // the proxy's first reply would enter conntrack as a new flow from the original destination
    // to the client, and SO_ORIGINAL_DST for that socket would then answer the client's address.
    "  chain raw_output {",
    "    type filter hook output priority raw; policy accept;",
    `    meta mark & 0x00000f00 == ${hexMark(MARK.PROXY_REPLY)} notrack`,
    "  }",
    "  chain prerouting {",
    "    type filter hook prerouting priority mangle; policy accept;",
    "    meta l4proto { tcp, udp } socket transparent 1 meta mark set 0x00000200 accept",
  ];
  for (const port of ports) {
    const mark = hexMark(toProxyMark(port));
    for (const proto of ["tcp", "udp"]) {
      lines.push(
        `    meta mark ${mark} meta l4proto ${proto} tproxy to 127.0.0.1:${port} meta mark set 0x00000200 accept`,
      );
    }
  }
  lines.push("  }", "}");
  return `${lines.join("\n")}\n`;
}

async function nft(script: string): Promise<void> {
  try {
    const child = execFile("nft", ["-f", "-"]);
    const done = new Promise<void>((resolve, reject) => {
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(stderr.trim() || `exit ${code}`)),
      );
    });
    child.stdin?.end(script);
    await done;
  } catch (cause) {
    throw new StraitError(ERROR_CODES.KERNEL, "nft refused the TPROXY ruleset", { cause });
  }
}

async function ip(args: readonly string[]): Promise<string> {
  try {
    return (await run("ip", [...args])).stdout;
  } catch (cause) {
    throw new StraitError(ERROR_CODES.KERNEL, `ip ${args.join(" ")} failed`, { cause });
  }
}

/**
 * Installs (or replaces, atomically) the TPROXY rules for these ports, and
 * makes sure the ip rule and table 2004 route exist. Idempotent.
 */
export async function installTproxy(proxyPorts: readonly number[]): Promise<void> {
  // "add table" then "delete table" then the new table, in one transaction: it works whether or not
  // the table existed, and readers see the old rules or the new ones, never none.
  await nft(`add table ip ${TPROXY_TABLE}\ndelete table ip ${TPROXY_TABLE}\n${tproxyRuleset(proxyPorts)}`);
  const rules = await ip(["-4", "rule", "show", "priority", String(PROXY_RULE_PRIORITY)]);
  if (!rules.includes(`lookup ${PROXY_ROUTE_TABLE}`)) {
    await ip([
      "-4",
      "rule",
      "add",
      "fwmark",
      "0x200/0xf00",
      "lookup",
      String(PROXY_ROUTE_TABLE),
      "priority",
      String(PROXY_RULE_PRIORITY),
    ]);
  }
  await ip(["-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", String(PROXY_ROUTE_TABLE)]);
}

/** Removes the table, rule and route (agent uninstall; tests). */
export async function removeTproxy(): Promise<void> {
  await nft(`add table ip ${TPROXY_TABLE}\ndelete table ip ${TPROXY_TABLE}\n`);
  await run("ip", ["-4", "rule", "del", "priority", String(PROXY_RULE_PRIORITY)]).catch(() => undefined);
  await run("ip", ["-4", "route", "flush", "table", String(PROXY_ROUTE_TABLE)]).catch(() => undefined);
}
