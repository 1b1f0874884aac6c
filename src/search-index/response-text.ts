/** A response body read as text, for callers that parse it themselves (exact numbers). */
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';

/** The body of a streamed response, inflated as its content-encoding says. */
export async function readBody(stream: Readable, contentEncoding: string): Promise<string> {
  const encoding = contentEncoding.toLowerCase();
  const source = encoding.includes('gzip') ? stream.pipe(createGunzip()) : encoding.includes('deflate') ? stream.pipe(createInflate()) : stream;
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}
