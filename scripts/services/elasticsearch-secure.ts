// Elasticsearch 8 with security on: HTTPS with the local test CA, users, API keys.
//
// For tests of what only a secured cluster shows: TLS verification (trusting tls.ts's ca.pem works,
// other-ca.pem fails), basic authentication as `elastic`, API keys. Its own copy of the
// distribution under .services/elasticsearch-secure/ (sharing the `elasticsearch` one is not safe:
// config/ is rewritten at every launch and holds this node's keystores).
//
// At every launch (search-server.ts calls `prepare`):
// - tls.ts's server.p12 is copied into config/ (the server runs as its own user, which cannot read
//   .services/tls/, and paths in the yml are relative to config/);
// - the Elasticsearch keystore is made afresh: `bootstrap.password` (the `elastic` user's password
//   until one is set through the API, and these scripts never do) and the HTTP keystore's password
//   (Elasticsearch 8 accepts it only as a secure setting).
// Transport TLS stays off: a single node bound to loopback runs in development mode, where the
// bootstrap check "Transport SSL must be enabled if security is enabled" only logs a warning, and
// no other node ever connects.
//
// Limit of the integ-test zip: it lacks the analysis-common module, and the `.security` index's
// settings need its pattern_capture filter, so that index cannot be created. Whatever is stored
// there fails: API keys (POST /_security/api_key answers 400 "Unknown filter type
// [pattern_capture]" although they are enabled), native users and roles. The reserved `elastic`
// user (password from the keystore) works; so would file-realm users (bin/elasticsearch-users).
import fs from 'node:fs';
import path from 'node:path';
import { elasticsearchSecureConfig as config } from './config.ts';
import { runChecked } from './proc.ts';
import { searchServer } from './search-server.ts';
import type { PrepareContext } from './search-server.ts';
import { ensureTls, tlsFiles } from './tls.ts';

/** How clients log in and what they trust (a test password, on loopback only). */
export const elasticsearchSecureCredentials = {
  caFile: tlsFiles.caFile,
  otherCaFile: tlsFiles.otherCaFile,
  username: 'elastic',
  password: 'cesync-local-es-pw',
} as const;

/** The HTTP keystore's name inside config/. */
const httpKeystore = 'cesync-http.p12';

const settings = `# Security on: users and API keys, HTTPS with the local test CA (scripts/services/tls.ts).
xpack.security.enabled: true
xpack.security.authc.api_key.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.keystore.path: ${httpKeystore}
xpack.security.http.ssl.keystore.type: PKCS12
`;

async function prepare({ home, env }: PrepareContext): Promise<void> {
  const tls = await ensureTls();
  const configDir = path.join(home, 'config');
  fs.copyFileSync(tls.serverKeystore, path.join(configDir, httpKeystore));
  const tool = path.join(home, 'bin', 'elasticsearch-keystore');
  const options = { cwd: home, env: { ...process.env, ...env }, timeoutMs: 120_000 };
  // Made afresh each time: `create` would otherwise ask whether to overwrite.
  fs.rmSync(path.join(configDir, 'elasticsearch.keystore'), { force: true });
  await runChecked(tool, ['create'], options);
  // -x reads the values from stdin, one line per setting: no secret on a command line.
  await runChecked(tool, ['add', '-x', 'bootstrap.password', 'xpack.security.http.ssl.keystore.secure_password'], {
    ...options,
    input: `${elasticsearchSecureCredentials.password}\n${tls.password}\n`,
  });
}

export const elasticsearchSecure = searchServer({
  name: 'elasticsearch-secure',
  kind: 'elasticsearch',
  config,
  artifact: `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${config.version}:zip`,
  distFolder: `elasticsearch-${config.version}`,
  scheme: 'https',
  settings,
  prepare,
  // No CA yet means nothing of ours can be answering; the probe then simply says "not ready".
  client: () =>
    fs.existsSync(tlsFiles.caFile)
      ? {
          ca: fs.readFileSync(tlsFiles.caFile),
          username: elasticsearchSecureCredentials.username,
          password: elasticsearchSecureCredentials.password,
        }
      : undefined,
});
