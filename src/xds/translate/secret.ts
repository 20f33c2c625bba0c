/** Certificates and CA bundles → SDS Secrets (inline PEM). */
import type { CaBundle, Certificate } from "../../model/gateway.ts";
import { caBundleSecretName } from "./listener.ts";

type Json = Record<string, unknown>;

export function buildCertificateSecret(cert: Certificate): Json {
  return {
    name: cert.name,
    tls_certificate: {
      certificate_chain: { inline_string: cert.certificateChain },
      private_key: { inline_string: cert.privateKey },
    },
  };
}

export function buildCaBundleSecret(bundle: CaBundle): Json {
  return {
    name: caBundleSecretName(bundle.name),
    validation_context: { trusted_ca: { inline_string: bundle.certificates } },
  };
}
