/** A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestCa {
  /** PEM of the CA certificate: the file a client must trust. */
  caFile: string;
  /** PEM certificate (SAN IP:127.0.0.1) and key for the server. */
  certificate: string;
  key: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeTestCa(dir: string, name = 'rootforge-test-ca'): Promise<TestCa> {
  const caFile = join(dir, `${name}.crt`);
  const caKey = join(dir, `${name}.key`);
  const certificate = join(dir, `${name}-server.crt`);
  const key = join(dir, `${name}-server.key`);
  const csr = join(dir, `${name}-server.csr`);
  const extensions = join(dir, `${name}-server.ext`);
  await execa('openssl', ['req', '-x509', ...EC_KEY, '-keyout', caKey, '-out', caFile, '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await execa('openssl', ['req', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(extensions, 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  await execa('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', '0x2a', '-days', '30', '-out', certificate, '-extfile', extensions]);
  return { caFile, certificate, key };
}
