/**
 * The control plane's certificates and keys, made with the openssl command the
 * way envtest and kubeadm lay them out: one CA that signs the API server's
 * serving certificate and the client certificates (users are named by the
 * certificate's CN, groups by its O fields), and an RSA key pair with which the
 * API server signs service-account tokens.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  /** PEM files of the service-account token signing key pair. */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

/** A certificate and its key, as PEM files. */
export interface ClientCertificate {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function sign(
  pki: { dir: string; caCert: string; caKey: string },
  name: string,
  subject: string,
  ext: string,
) {
  const key = join(pki.dir, `${name}.key`);
  const csr = join(pki.dir, `${name}.csr`);
  const cert = join(pki.dir, `${name}.crt`);
  const extFile = join(pki.dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
  openssl(["req", "-new", "-key", key, "-subj", subject, "-out", csr]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    extFile,
    "-out",
    cert,
  ]);
  return { cert, key };
}

/** A fresh CA, the serving certificate for 127.0.0.1/localhost, and the token signing keys in `dir`. */
export function createPki(dir: string): Pki {
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey]);
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-subj",
    "/CN=strait-test-ca",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    "-out",
    caCert,
  ]);
  // The in-cluster names too: the API server's own loopback client and the
  // `kubernetes` Service's cluster IP (the first of --service-cluster-ip-range).
  const serving = servingCertificate({ dir, caCert, caKey }, "apiserver", "kube-apiserver", [
    "IP:127.0.0.1",
    "IP:10.96.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ]);
  const serviceAccountKey = join(dir, "sa.key");
  const serviceAccountPub = join(dir, "sa.pub");
  openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", serviceAccountKey]);
  openssl(["pkey", "-in", serviceAccountKey, "-pubout", "-out", serviceAccountPub]);
  return {
    dir,
    caCert,
    caKey,
    servingCert: serving.cert,
    servingKey: serving.key,
    serviceAccountKey,
    serviceAccountPub,
  };
}

/** A serving certificate for the subjectAltNames given (`IP:…`, `DNS:…`), signed by the CA. */
export function servingCertificate(
  pki: { dir: string; caCert: string; caKey: string },
  file: string,
  commonName: string,
  altNames: readonly string[],
): ClientCertificate {
  return sign(
    pki,
    file,
    `/CN=${commonName}`,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${altNames.join(",")}`,
      "",
    ].join("\n"),
  );
}

/** A client certificate for user `name` in `groups`, signed by the control plane's CA. */
export function clientCertificate(
  pki: Pki,
  file: string,
  name: string,
  groups: readonly string[] = [],
): ClientCertificate {
  const subject = [...groups.map((g) => `/O=${g}`), `/CN=${name}`].join("");
  return sign(
    pki,
    file,
    subject,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
      "",
    ].join("\n"),
  );
}

export function readPem(file: string): string {
  return readFileSync(file, "utf8");
}
