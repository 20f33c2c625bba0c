/**
 * @peculiar/x509, loaded the one way that works: it uses tsyringe, which needs
 * the reflect-metadata polyfill in place before it loads (imports run in
 * order). Everything in strait imports @peculiar/x509 through this file.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
