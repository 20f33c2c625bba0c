/**
 * The node stand-in's program for the conformance suite's CoreDNS pod
 * (`-conf Corefile`): a UDP DNS server on port 53 that serves CoreDNS's
 * `whoami` answer (the client's address as an A record and its port as an SRV
 * record, in the additional section) for the zones whose Corefile block uses
 * `whoami`, and REFUSED for everything else: `forward` to public resolvers is
 * not done, as nothing here reaches the Internet.
 *
 *   node dns-stand-in.ts -conf /path/to/Corefile
 */
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";

function whoamiZones(corefile: string): string[] {
  const zones: string[] = [];
  for (const m of corefile.matchAll(/([^\s{}]+):53\s*\{([^}]*)\}/g)) {
    const zone = (m[1] ?? "").replace(/\.$/, "").toLowerCase();
    if (/\bwhoami\b/.test(m[2] ?? "")) zones.push(zone);
  }
  return zones;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const len = msg[at] ?? 0;
    at++;
    if (len === 0) break;
    labels.push(msg.subarray(at, at + len).toString("ascii"));
    at += len;
  }
  return { name: labels.join(".").toLowerCase(), end: at };
}

function encodeName(name: string): Buffer {
  const parts = name.split(".").filter((p) => p !== "");
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "ascii")])),
    Buffer.from([0]),
  ]);
}

function record(name: string, type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2); // IN
  head.writeUInt32BE(0, 4); // TTL
  head.writeUInt16BE(data.length, 8);
  return Buffer.concat([encodeName(name), head, data]);
}

const args = process.argv.slice(2);
const confAt = args.indexOf("-conf");
const corefile =
  confAt >= 0 && args[confAt + 1] !== undefined ? readFileSync(args[confAt + 1] as string, "utf8") : "";
const zones = whoamiZones(corefile);

const socket = createSocket("udp4");
socket.on("message", (msg, peer) => {
  if (msg.length < 12) return;
  const question = readName(msg, 12);
  const qEnd = question.end + 4;
  const inZone = zones.some((z) => question.name === z || question.name.endsWith(`.${z}`));
  const header = Buffer.from(msg.subarray(0, 12));
  header.writeUInt16BE(0x8000 | (msg.readUInt16BE(2) & 0x0100) | (inZone ? 0x0400 : 5), 2); // QR, RD, AA or REFUSED
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(0, 6);
  header.writeUInt16BE(0, 8);
  const extra: Buffer[] = [];
  if (inZone) {
    const a = Buffer.from(peer.address.split(".").map(Number));
    const srv = Buffer.concat([
      Buffer.from([0, 0, 0, 0, peer.port >> 8, peer.port & 0xff]),
      encodeName(question.name),
    ]);
    extra.push(record(question.name, 1, a), record(`_udp.${question.name}`, 33, srv));
  }
  header.writeUInt16BE(extra.length, 10);
  socket.send(Buffer.concat([header, msg.subarray(12, qEnd), ...extra]), peer.port, peer.address);
});
socket.bind(53, "0.0.0.0", () =>
  console.log(`dns stand-in: whoami for ${zones.join(", ") || "no zone"}, REFUSED otherwise`),
);
process.on("SIGTERM", () => socket.close(() => process.exit(0)));
