import { describe, expect, it } from 'vitest';
import { decide } from '../../src/engine/write-plan.js';
import { isRemovalOf } from '../../src/engine/removal.js';

describe('decide', () => {
  it('writes records the target does not hold, at their version', () => {
    expect(decide(10, 'd', undefined)).toEqual({ action: 'write', version: 10 });
  });
  it('writes newer versions and skips identical ones', () => {
    expect(decide(10, 'd', { version: 9, digest: 'd' })).toEqual({ action: 'write', version: 10 });
    expect(decide(10, 'd', { version: 10, digest: 'd' })).toEqual({ action: 'unchanged' });
  });
  it('rewrites at the same version when the content changed but the version did not', () => {
    expect(decide(10, 'new', { version: 10, digest: 'old' })).toEqual({ action: 'write', version: 10 });
    expect(decide(10, 'new', { version: 10, digest: undefined })).toEqual({ action: 'write', version: 10 });
  });
  it('asks for a removal check when the target is newer and differs', () => {
    expect(decide(5, 'x', { version: 10, digest: 'y' })).toEqual({ action: 'check-removal', storedVersion: 10 });
    expect(decide(5, 'x', { version: 10, digest: 'x' })).toEqual({ action: 'unchanged' });
  });
});

describe('isRemovalOf', () => {
  it('accepts cells set to null and collection elements removed', () => {
    expect(isRemovalOf({ a: 1, b: null }, { a: 1, b: 2 })).toBe(true);
    expect(isRemovalOf({ s: ['x'] }, { s: ['x', 'y'] })).toBe(true);
    expect(isRemovalOf({ m: { k: 1 } }, { m: { k: 1, j: 2 } })).toBe(true);
    expect(isRemovalOf({ u: { f: null, g: 1 } }, { u: { f: 'v', g: 1 } })).toBe(true);
  });
  it('refuses anything that adds or changes data', () => {
    expect(isRemovalOf({ a: 2 }, { a: 1 })).toBe(false);
    expect(isRemovalOf({ a: 1, b: 3 }, { a: 1 })).toBe(false);
    expect(isRemovalOf({ s: ['x', 'x'] }, { s: ['x'] })).toBe(false);
    expect(isRemovalOf({ m: { k: 2 } }, { m: { k: 1 } })).toBe(false);
  });
  it('compares big numbers by their JSON text', () => {
    expect(isRemovalOf({ n: JSON.rawJSON('9007199254740993') }, { n: JSON.parse('9007199254740993') })).toBe(true);
  });
});
