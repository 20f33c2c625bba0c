/**
 * One open watch of the test API server: an HTTP/1.1 response with chunked
 * transfer encoding carrying one JSON watch event per line, as the real server
 * sends them (`{"type":"ADDED","object":{...}}`), until the server ends it
 * (timeoutSeconds, an ERROR event, a forced drop) or the client goes away.
 */
import type { ServerResponse } from "node:http";
import { sortKeys } from "./json.ts";
import { apiVersionOfResource, resourceKey, type ServedResource } from "./resources.ts";
import type { StatusBody } from "./status.ts";
import type { ApiObject, ChangeEvent } from "./storage.ts";

export class WatchStream {
  readonly resource: ServedResource;
  readonly namespace: string | undefined;
  readonly bookmarks: boolean;
  readonly #response: ServerResponse;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Lines held back while the stream is paused (a slow watch). */
  #held: string[] | undefined;
  readonly #onClose: () => void;
  /** Events written, by type: what tests assert the client received. */
  readonly sent: { type: string; rv: string }[] = [];

  constructor(options: {
    resource: ServedResource;
    namespace: string | undefined;
    bookmarks: boolean;
    response: ServerResponse;
    timeoutSeconds: number | undefined;
    onClose: () => void;
  }) {
    this.resource = options.resource;
    this.namespace = options.namespace;
    this.bookmarks = options.bookmarks;
    this.#response = options.response;
    this.#onClose = options.onClose;
    // No Content-Length: node:http sends the body with chunked transfer encoding.
    this.#response.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
    });
    this.#response.flushHeaders();
    this.#response.on("close", () => this.#finish());
    if (options.timeoutSeconds !== undefined && options.timeoutSeconds > 0) {
      this.#timer = setTimeout(() => this.end(), options.timeoutSeconds * 1000);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a change event if it belongs to this watch. */
  change(event: ChangeEvent): void {
    if (resourceKey(event.resource) !== resourceKey(this.resource)) return;
    if (this.namespace !== undefined && event.object.metadata.namespace !== this.namespace) return;
    this.#write(event.type, event.object);
  }

  added(object: ApiObject): void {
    this.#write("ADDED", object);
  }

  /** A BOOKMARK: only metadata.resourceVersion, telling the client how far it has seen. */
  bookmark(resourceVersion: number): void {
    if (!this.bookmarks) return;
    this.#write("BOOKMARK", {
      apiVersion: apiVersionOfResource(this.resource),
      kind: this.resource.kind,
      metadata: { resourceVersion: String(resourceVersion) },
    });
  }

  /** An ERROR event carrying a Status (e.g. 410 Expired), then the end of the stream. */
  error(status: StatusBody): void {
    this.#write("ERROR", status);
    this.end();
  }

  raw(line: string): void {
    this.#send(`${line}\n`);
  }

  /** Holds events back until resume(), as a lagging watch cache would. */
  pause(): void {
    this.#held ??= [];
  }

  resume(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of held) this.#send(line);
  }

  /** Ends the stream cleanly (the terminating zero-length chunk). */
  end(): void {
    if (this.#closed) return;
    this.#response.end();
    this.#finish();
  }

  /** Drops the connection without ending the chunked body, as a broken network would. */
  drop(): void {
    if (this.#closed) return;
    this.#response.socket?.destroy();
    this.#response.destroy();
    this.#finish();
  }

  #write(type: string, object: unknown): void {
    if (this.#closed) return;
    const rv = (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? "";
    this.sent.push({ type, rv });
    this.#send(`${JSON.stringify(sortKeys({ type, object }))}\n`);
  }

  #send(line: string): void {
    if (this.#closed) return;
    if (this.#held !== undefined) this.#held.push(line);
    else this.#response.write(line);
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#onClose();
  }
}
