// A small JSON-over-HTTP(S) GET for readiness probes, on node's own http/https modules.
//
// Why not global fetch: it cannot be given a CA to trust without importing undici, which is not a
// dependency. An https URL is verified against `ca` (and the host name against the certificate);
// verification is never turned off, so a probe of a TLS server also proves its certificate works.
import http from 'node:http';
import https from 'node:https';

export interface HttpClientOptions {
  /** PEM CA certificate(s) to trust for https URLs (instead of the system's). */
  ca?: string | Buffer;
  /** Basic authentication. */
  username?: string;
  password?: string;
  timeoutMs?: number;
}

/** GETs `url` and resolves to its parsed JSON body; rejects on any status but 200, bad JSON, or timeout. */
export function getJson(url: string, options: HttpClientOptions = {}): Promise<unknown> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const requestOptions: https.RequestOptions = {
    method: 'GET',
    headers,
    timeout: options.timeoutMs ?? 3000,
    ...(secure && options.ca !== undefined ? { ca: options.ca } : {}),
  };
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(target, requestOptions, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${target.pathname}: HTTP ${String(response.statusCode)}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(error as Error);
        }
      });
      response.on('error', reject);
    });
    request.on('timeout', () => {
      request.destroy(new Error(`GET ${target.pathname}: no answer within ${String(requestOptions.timeout)} ms`));
    });
    request.on('error', reject);
    request.end();
  });
}
