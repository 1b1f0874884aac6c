import { describe, expect, it } from 'vitest';
import { compileDocumentId, splitDelimitedId } from '../../src/cassandra/document-id.js';

describe('document id', () => {
  it('is the value itself for one key column', () => {
    const id = compileDocumentId(['id'], { format: 'delimited', separator: ':' });
    expect(id({ id: 'a:b' })).toBe('a:b');
    expect(id({ id: 7 })).toBe('7');
  });
  it('joins and escapes several key columns, and splits back', () => {
    const id = compileDocumentId(['a', 'b', 'c'], { format: 'delimited', separator: ':' });
    const text = id({ a: 'x:y', b: 'back\\slash', c: JSON.rawJSON('9223372036854775807') });
    expect(text).toBe('x\\:y:back\\\\slash:9223372036854775807');
    expect(splitDelimitedId(text, ':')).toEqual(['x:y', 'back\\slash', '9223372036854775807']);
  });
  it('can be a JSON array', () => {
    const id = compileDocumentId(['a', 'b'], { format: 'json', separator: ':' });
    expect(id({ a: 'x', b: 2 })).toBe('["x",2]');
  });
});
