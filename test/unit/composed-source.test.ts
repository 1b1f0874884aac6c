// Composed documents (src/shape/composed-source.ts) over in-memory tables: versions and parts,
// `where` before shaping and by text, the bound on nested rows, the lookup cache (scans only:
// reads by key read afresh, so no decision to overwrite is taken on a cached copy), copies of
// looked-up values, and refused documents keeping what they read.
import { describe, expect, it } from 'vitest';
import type { RecordSource } from '../../src/engine/ports.js';
import type { SourceRecord } from '../../src/engine/record.js';
import { composedSource, type Lookup, type Nesting, type RelatedTable } from '../../src/shape/composed-source.js';
import { compileShape } from '../../src/shape/document-shape.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { incrementalSync } from '../../src/engine/incremental-sync.js';
import { MemoryIndex, MemoryState, memorySource } from './fakes.js';

/** A related table of rows keyed by the text of one column (`by`), counting its reads. */
function table(rows: SourceRecord[], by: string): RelatedTable & { reads: number; rows: SourceRecord[] } {
  const t = {
    reads: 0,
    source: memorySource(rows) as RecordSource,
    rows,
    async find(tuples: readonly (readonly string[])[], options: { limit?: number } = {}) {
      t.reads += tuples.length;
      return tuples.map(([k]) => t.rows.filter((r) => String(r.document[by]) === k).slice(0, options.limit === undefined ? undefined : options.limit + 1));
    },
  };
  return t;
}

const user = (id: string, version: number, extra: Record<string, unknown> = {}): SourceRecord => ({ id, version, document: { id, ...extra } });
const member = (uid: string, org: string, version: number, extra: Record<string, unknown> = {}): SourceRecord => ({
  id: `${uid}:${org}`,
  version,
  document: { userid: uid, org, ...extra },
});

function nesting(children: RelatedTable, extra: Partial<Nesting> = {}): Nesting {
  return { field: 'orgs', table: children, tupleFromParent: [0], parentFromChild: [0], where: {}, maxRows: 10, omit: ['userid'], lookups: [], ...extra };
}

const orgLookup = (orgs: RelatedTable): Lookup => ({ table: orgs, keyFields: ['org'], copy: [['name', 'orgName']] });

async function readAll(source: RecordSource, ids?: string[]): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  const batches = ids ? source.read(ids.map((id) => ({ id, values: [id] })), {}) : source.scan(source.spans().map((s) => ({ ...s, done: false })), {});
  for await (const b of batches) out.push(...b.records);
  return out;
}

describe('composedSource', () => {
  it('nests rows with their lookups; the version is the newest part; parts differ when a part goes', async () => {
    const members = table([member('u1', 'o1', 20), member('u1', 'o2', 5)], 'userid');
    const orgs = table([{ id: 'o1', version: 30, document: { id: 'o1', name: 'One' } }], 'id');
    const src = composedSource(memorySource([user('u1', 10)]), [nesting(members, { lookups: [orgLookup(orgs)] })]);
    const [a] = await readAll(src);
    expect(a).toMatchObject({ version: 30, document: { id: 'u1', orgs: [{ org: 'o1', orgName: 'One' }, { org: 'o2', orgName: null }] } });
    members.rows.splice(1, 1); // the older membership deleted: the version stays, the parts do not
    const [b] = await readAll(src);
    expect(b!.version).toBe(30);
    expect(b!.parts).not.toBe(a!.parts);
  });

  it('applies where to the rows as read, before shaping, comparing texts (a bigint 1 is 1)', async () => {
    const members = table([member('u1', 'o1', 1, { n: JSON.rawJSON('1'), when: 'not a date' }), member('u1', 'o2', 1, { n: JSON.rawJSON('2'), when: '2020-01-01' })], 'userid');
    const shape = compileShape({ pipeline: 'p', fields: [{ field: 'when', parse: 'date' }] });
    const src = composedSource(memorySource([user('u1', 1)]), [nesting(members, { where: { n: 2 }, shape })]);
    const [a] = await readAll(src);
    // The row left out holds a value that does not parse: it never refuses the document.
    expect(a!.rejected).toBeUndefined();
    expect(JSON.stringify(a!.document['orgs'])).toBe('[{"org":"o2","n":2,"when":"2020-01-01T00:00:00.000Z"}]');
  });

  it('refuses a document with more nested rows than maxRows, keeping the version and parts it read', async () => {
    const members = table([member('u1', 'o1', 7), member('u1', 'o2', 8), member('u1', 'o3', 9)], 'userid');
    const [a] = await readAll(composedSource(memorySource([user('u1', 1)]), [nesting(members, { maxRows: 2 })]));
    expect(a!.rejected).toEqual({ errorType: 'compose_error', reason: 'orgs: more than 2 rows to nest (nest maxRows)' });
    expect(a!.parts).toBeDefined();
  });

  it('serves scans from the lookup cache, but reads looked-up rows afresh for reads by key', async () => {
    const orgs = table([{ id: 'o1', version: 1, document: { id: 'o1', name: 'Old' } }], 'id');
    const members = table([member('u1', 'o1', 1), member('u2', 'o1', 1)], 'userid');
    const src = composedSource(memorySource([user('u1', 1), user('u2', 1)]), [nesting(members, { lookups: [orgLookup(orgs)] })]);
    await readAll(src);
    expect(orgs.reads).toBe(1); // both users share one looked-up row: read once
    orgs.rows[0] = { id: 'o1', version: 2, document: { id: 'o1', name: 'New' } };
    const scanned = await readAll(src);
    expect(scanned.map((r) => (r.document['orgs'] as { orgName: string }[])[0]!.orgName)).toEqual(['Old', 'Old']);
    const [read] = await readAll(src, ['u1']);
    expect(read).toMatchObject({ version: 2, document: { orgs: [{ orgName: 'New' }] } });
  });

  it('hands out copies of looked-up values: a module changing one in place changes nothing else', async () => {
    const orgs = table([{ id: 'o1', version: 1, document: { id: 'o1', name: ['a'] } }], 'id');
    const members = table([member('u1', 'o1', 1), member('u2', 'o1', 1)], 'userid');
    const src = composedSource(memorySource([user('u1', 1), user('u2', 1)]), [nesting(members, { lookups: [orgLookup(orgs)] })]);
    const [a, b] = await readAll(src);
    ((a!.document['orgs'] as { orgName: string[] }[])[0]!.orgName).push('changed');
    expect((b!.document['orgs'] as { orgName: string[] }[])[0]!.orgName).toEqual(['a']);
    expect(orgs.rows[0]!.document['name']).toEqual(['a']);
  });

  it('finds the documents of changed nested rows and of changed looked-up rows', async () => {
    const memberRows = [member('u1', 'o1', 50), member('u2', 'o2', 5)];
    const members = table(memberRows, 'userid');
    (members.source as { changed: RecordSource['changed'] }).changed = () => ({
      method: 'scan',
      entries: (async function* () {
        yield memberRows.map((r) => ({ id: r.id, version: r.version }));
      })(),
    });
    (members.source as { idParts: RecordSource['idParts'] }).idParts = (id) => id.split(':');
    (members.source as { scanVersions: RecordSource['scanVersions'] }).scanVersions = () =>
      (async function* () {
        yield { span: 0, entries: memberRows.map((r) => ({ id: r.id, version: r.version })) };
      })();
    const orgs = table([{ id: 'o2', version: 60, document: { id: 'o2', name: 'Two' } }], 'id');
    (orgs.source as { changed: RecordSource['changed'] }).changed = () => ({
      method: 'scan',
      entries: (async function* () {
        yield [{ id: 'o2', version: 60 }];
      })(),
    });
    const src = composedSource(memorySource([user('u1', 1), user('u2', 1)]), [nesting(members, { lookups: [{ ...orgLookup(orgs), keyPositions: [1] }] })]);
    const found = [];
    const c = src.changed({ version: 10, id: '' }, 100, {});
    expect(c.method).toBe('scan');
    for await (const page of c.entries) found.push(...page);
    expect(found).toEqual([
      { id: 'u1', version: 50 }, // its membership changed
      { id: 'u2', version: 60 }, // the organisation of its membership changed
    ]);
  });
});

describe('an id changed twice in one window', () => {
  it('is read once, at its earliest place: a run that stops after it never leaves that change behind the watermark', async () => {
    // P changed at 50 (its own row) and at 100 (a nested row); Q at 70. One change per batch; the
    // index fails on the second batch, so the run stops after the first.
    const source = memorySource([user('P', 100, { v: 'new' }), user('Q', 70)]);
    (source as { changed: RecordSource['changed'] }).changed = () => ({
      method: 'scan',
      entries: (async function* () {
        yield [
          { id: 'P', version: 50 },
          { id: 'Q', version: 70 },
          { id: 'P', version: 100 },
        ];
      })(),
    });
    const index = new MemoryIndex();
    index.failAfter = 1;
    const state = new MemoryState();
    const run = incrementalSync(
      { source, sink: index, failures: new MemoryFailureLedger(), state },
      { pipeline: 'p', index: 'i', from: { version: 0, id: '' }, to: 200, saveWatermark: true, batchSize: 1 },
    );
    await expect(run).rejects.toThrow(/target down/);
    expect(index.docs.get('P')?.body).toEqual({ id: 'P', v: 'new' });
    expect(await state.loadWatermark('p', 'to-elasticsearch')).toEqual({ version: 50, id: 'P' });
  });
});
