// TLS material for the test servers: a local CA, a server certificate it signs, and a second,
// unrelated CA, all made with the JDK's keytool (no openssl needed).
//
// Layout under .services/tls/ (created once, then reused by every server and every start):
//   ca.p12          the CA's key pair (PKCS12); kept so the material could be extended later
//   ca.pem          the CA certificate (PEM): what clients trust
//   server.p12      key pair for CN=127.0.0.1 (SAN ip:127.0.0.1, dns:localhost) with the chain
//                   server -> CA, the keystore servers load (Cassandra, Elasticsearch)
//   other-ca.p12    a second CA's key pair, which signed nothing
//   other-ca.pem    its certificate: tests trust it instead of ca.pem to see verification fail
// Every keystore has the password `tlsPassword` (for PKCS12 the key password is the same).
// These are loopback test fixtures: fixed passwords are fine, and nothing else may trust them.
//
// Contract: the folder is complete or absent. It is built in a staging folder that is renamed into
// place at the end, so a run that was interrupted leaves only a staging folder, thrown away by the
// next attempt. Callers hold the services lock (every launch does), so there is one builder at a time.
import fs from 'node:fs';
import path from 'node:path';
import { findJdk } from './jdk.ts';
import { serviceDir } from './paths.ts';
import { runChecked } from './proc.ts';

export const tlsPassword = 'cesync-local-tls';

/** Host name checks need the address clients connect to in the certificate's SAN. */
const serverSan = 'ip:127.0.0.1,dns:localhost';
const validityDays = '3650';

export interface TlsFiles {
  dir: string;
  /** PEM certificate of the CA that signed the servers' certificate. */
  caFile: string;
  /** PEM certificate of an unrelated CA (signed nothing): trusting it instead must fail. */
  otherCaFile: string;
  /** PKCS12 keystore with the server key pair and its chain; password `tlsPassword`. */
  serverKeystore: string;
  password: string;
}

const dir = serviceDir('tls');
const names = ['ca.p12', 'ca.pem', 'server.p12', 'other-ca.p12', 'other-ca.pem'] as const;

/** Where the material is (or will be); no file is created. */
export const tlsFiles: TlsFiles = {
  dir,
  caFile: path.join(dir, 'ca.pem'),
  otherCaFile: path.join(dir, 'other-ca.pem'),
  serverKeystore: path.join(dir, 'server.p12'),
  password: tlsPassword,
};

function complete(folder: string): boolean {
  return names.every((name) => fs.existsSync(path.join(folder, name)));
}

/** A CA key pair (basic constraints CA, critical) in `<name>.p12` and its certificate in `<name>.pem`. */
async function createCa(keytool: string, folder: string, name: string, cn: string): Promise<void> {
  const keystore = path.join(folder, `${name}.p12`);
  await runChecked(keytool, [
    '-genkeypair', '-alias', 'ca', '-dname', `CN=${cn}, O=cesync tests`, '-ext', 'bc:c',
    '-keyalg', 'RSA', '-keysize', '2048', '-validity', validityDays, '-startdate', '-1d',
    '-keystore', keystore, '-storetype', 'PKCS12', '-storepass', tlsPassword,
  ]);
  await runChecked(keytool, [
    '-exportcert', '-rfc', '-alias', 'ca', '-keystore', keystore, '-storepass', tlsPassword,
    '-file', path.join(folder, `${name}.pem`),
  ]);
}

/** Server key pair, signed by the CA in ca.p12, stored with its chain in server.p12. */
async function createServer(keytool: string, folder: string): Promise<void> {
  const keystore = path.join(folder, 'server.p12');
  const store = ['-keystore', keystore, '-storetype', 'PKCS12', '-storepass', tlsPassword];
  const csr = path.join(folder, 'server.csr');
  const signed = path.join(folder, 'server.pem');
  await runChecked(keytool, [
    '-genkeypair', '-alias', 'server', '-dname', 'CN=127.0.0.1, O=cesync tests',
    '-keyalg', 'RSA', '-keysize', '2048', '-validity', validityDays, ...store,
  ]);
  await runChecked(keytool, ['-certreq', '-alias', 'server', '-file', csr, ...store]);
  await runChecked(keytool, [
    '-gencert', '-rfc', '-alias', 'ca', '-keystore', path.join(folder, 'ca.p12'), '-storepass', tlsPassword,
    '-infile', csr, '-outfile', signed, '-validity', validityDays, '-startdate', '-1d',
    '-ext', `san=${serverSan}`, '-ext', 'ku:c=digitalSignature,keyEncipherment', '-ext', 'eku=serverAuth',
  ]);
  // keytool accepts the signed certificate only when it can build the chain up to a trusted
  // certificate in the keystore, so the CA goes in first; once the key entry holds the whole chain
  // the separate CA entry is removed, leaving one entry (servers then have one key to pick).
  await runChecked(keytool, ['-importcert', '-noprompt', '-alias', 'ca', '-file', path.join(folder, 'ca.pem'), ...store]);
  await runChecked(keytool, ['-importcert', '-noprompt', '-alias', 'server', '-file', signed, ...store]);
  await runChecked(keytool, ['-delete', '-alias', 'ca', ...store]);
  fs.rmSync(csr);
  fs.rmSync(signed);
}

/**
 * Makes sure the material exists (building it the first time, in a few seconds of keytool runs)
 * and returns where it is. Idempotent.
 */
export async function ensureTls(): Promise<TlsFiles> {
  if (complete(dir)) return tlsFiles;
  const keytool = path.join(findJdk(17), 'bin', 'keytool');
  const staging = `${dir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  await createCa(keytool, staging, 'ca', 'cesync local test CA');
  await createServer(keytool, staging);
  await createCa(keytool, staging, 'other-ca', 'cesync unrelated test CA');
  // Private keys for root's eyes only: a server running as another user gets its own copy
  // (elasticsearch-secure.ts). The certificates are public, so tests can read the PEM files.
  for (const name of names) fs.chmodSync(path.join(staging, name), name.endsWith('.p12') ? 0o600 : 0o644);
  fs.chmodSync(staging, 0o755);
  // An incomplete folder (files deleted by hand) is replaced whole.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return tlsFiles;
}
