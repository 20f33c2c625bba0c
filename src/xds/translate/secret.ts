/** Certificates and CA bundles → SDS Secrets (inline PEM). */
import type { CaBundle, Certificate } from "../../model/gateway.ts";
import type { envoy_extensions_transport_sockets_tls_v3_Secret as Secret } from "../proto/envoy-types.ts";
import { caBundleSecretName } from "./listener.ts";

export function buildCertificateSecret(cert: Certificate): Secret {
  return {
    name: cert.name,
    tls_certificate: {
      certificate_chain: { inline_string: cert.certificateChain },
      private_key: { inline_string: cert.privateKey },
    },
  };
}

export function buildCaBundleSecret(bundle: CaBundle): Secret {
  return {
    name: caBundleSecretName(bundle.name),
    validation_context: { trusted_ca: { inline_string: bundle.certificates } },
  };
}
