/**
 * Loads the transform module of a pipeline (config `transform.module`): an ES module whose default
 * export (or export named `transform`) is the function from the shaped document to the one written.
 */
import { pathToFileURL } from 'node:url';
import { CesyncError } from '../errors.js';
import type { DocumentFunction } from './document-shape.js';

export async function loadTransformModule(path: string, pipeline: string): Promise<DocumentFunction> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(path) ? 'no such file' : err.message;
    throw new CesyncError('CONFIG_INVALID', `${pipeline}: transform.module ${path} cannot be loaded: ${why}`, { cause: e });
  }
  const fn = typeof mod['default'] === 'function' ? mod['default'] : mod['transform'];
  if (typeof fn !== 'function') {
    throw new CesyncError('CONFIG_INVALID', `${pipeline}: transform.module ${path} exports no function (export default function (document, { id, pipeline }) { ... return document; })`);
  }
  return fn as DocumentFunction;
}
