// A self-signed certificate for localhost and 127.0.0.1, made with the openssl command (CI
// installs it), for the federation TLS listener in tests.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** Writes cert.pem and key.pem into `dir`; returns their paths. */
export function selfSignedCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
      ...["-keyout", keyFile, "-out", certFile, "-days", "2", "-nodes", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}
