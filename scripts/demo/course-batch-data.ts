// Sunbird's course batches (keyspace sunbird_courses, table course_batch) for the events demo and
// the events benchmark: the table with the columns of Sunbird's own that the ownership transfer
// reads or shows, seeded generated batches, and what the transfer makes of a batch (the outcome
// both check the stores against).
//
// The columns are a subset of Sunbird's course_batch (its cert_templates, created_date,
// enrollmentenddate, tandc and update columns are left out), with its CQL types and primary key
// (courseid, batchid). status: 0 upcoming, 1 ongoing, 2 expired.
import { Prng } from './prng.ts';
import { cqlIdentifier } from './sunbird-schema.ts';

export interface CourseBatch {
  courseid: string;
  batchid: string;
  name: string;
  createdby: string;
  mentors: string[];
  createdfor: string[];
  status: 0 | 1 | 2;
  startdate: string;
  enddate: string;
  enrollmenttype: string;
  description: string;
}

/** Every column, in table order (primary key first). */
export const COURSE_BATCH_COLUMNS = ['courseid', 'batchid', 'name', 'createdby', 'mentors', 'createdfor', 'status', 'startdate', 'enddate', 'enrollmenttype', 'description'] as const;

export function createCourseBatchTableCql(keyspace: string, table = 'course_batch'): string {
  return `CREATE TABLE IF NOT EXISTS ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)} (
    courseid text,
    batchid text,
    name text,
    createdby text,
    mentors list<text>,
    createdfor list<text>,
    status int,
    startdate text,
    enddate text,
    enrollmenttype text,
    description text,
    PRIMARY KEY (courseid, batchid)
  )`;
}

/** The statuses the ownership transfer changes (Sunbird transfers upcoming and ongoing batches only). */
export const TRANSFERRED_STATUSES: readonly number[] = [0, 1];

/** Whether the batch names `user` as its creator or among its mentors. */
export function holds(batch: Pick<CourseBatch, 'createdby' | 'mentors'>, user: string): boolean {
  return batch.createdby === user || batch.mentors.includes(user);
}

/**
 * The batch after the transfer from `from` to `to`, as the replace-value handler makes it: for an
 * upcoming or ongoing batch, createdby `from` becomes `to`, and in mentors every `from` becomes
 * `to` in place, each value kept once (the handler drops duplicates of a list it changes); an
 * expired batch, or one that names `from` nowhere, is returned as it is.
 */
export function transferred(batch: CourseBatch, from: string, to: string): CourseBatch {
  if (!TRANSFERRED_STATUSES.includes(batch.status) || !holds(batch, from)) return batch;
  const mentors: string[] = [];
  if (batch.mentors.includes(from)) {
    for (const m of batch.mentors) {
      const next = m === from ? to : m;
      if (!mentors.includes(next)) mentors.push(next);
    }
  } else mentors.push(...batch.mentors);
  return { ...batch, createdby: batch.createdby === from ? to : batch.createdby, mentors };
}

const DAY = 86_400_000;
const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const SUBJECTS = ['Mathematics', 'Science', 'English', 'Social Science', 'Hindi', 'Physics', 'Chemistry', 'Biology', 'Computer Science', 'Pedagogy'];
const KINDS = ['Foundations', 'Teacher Training', 'Refresher', 'Assessment Practice', 'Bridge Course'];

export interface GenerateOptions {
  /** The user whose batches are transferred (about `share` of the batches name them). */
  from: string;
  /** The user they pass to (a few batches name them already). */
  to: string;
  /** The organisation the batches are created for, most of them. */
  organisation: string;
  /** Status dates are relative to this time (ms): expired batches ended before it, upcoming ones start after. */
  now: number;
  seed?: number;
  /** Fraction of the batches created or mentored by `from` (default 0.5). */
  share?: number;
}

/**
 * `n` course batches, the same for the same options. About `share` of them are created or
 * mentored by `from` (a third of those only as a mentor, a few with `to` among the mentors too);
 * statuses 0, 1, 2 at about 20%, 50%, 30%, with dates that fit them; the others are created and
 * mentored by 40 other users, a few by `to`.
 */
export function generateCourseBatches(n: number, options: GenerateOptions): CourseBatch[] {
  const rng = new Prng(options.seed ?? 1).fork('course_batch');
  const share = options.share ?? 0.5;
  const others = Array.from({ length: 40 }, () => rng.uuid());
  const courses = Array.from({ length: Math.max(1, Math.ceil(n / 6)) }, () => `do_${rng.int(2130, 2139)}${rng.digits(18)}`);
  const orgs = [options.organisation, `0${rng.digits(19)}`, `0${rng.digits(19)}`];
  const batchIds = new Set<string>();
  const batches: CourseBatch[] = [];
  for (let i = 0; i < n; i++) {
    let batchid: string;
    do batchid = `01${rng.digits(18)}`;
    while (batchIds.has(batchid));
    batchIds.add(batchid);
    const status = rng.weighted<0 | 1 | 2>([
      [0, 0.2],
      [1, 0.5],
      [2, 0.3],
    ]);
    // Upcoming: starts within 60 days; ongoing: started up to 90 days ago, ends within 90; expired: ended up to a year ago.
    const start = status === 0 ? options.now + rng.int(1, 60) * DAY : status === 1 ? options.now - rng.int(1, 90) * DAY : options.now - rng.int(120, 365) * DAY;
    const end = status === 2 ? options.now - rng.int(1, 100) * DAY : start + rng.int(30, 180) * DAY;
    const someOthers = (k: number) => rng.sample(others, k);
    let createdby: string;
    let mentors: string[];
    if (rng.chance(share)) {
      if (rng.chance(2 / 3)) {
        createdby = options.from;
        mentors = rng.weighted<string[]>([
          [[options.from, ...someOthers(1)], 0.4],
          [someOthers(rng.int(1, 2)), 0.4],
          [[], 0.2],
        ]);
      } else {
        createdby = rng.pick(others);
        mentors = [...someOthers(rng.int(0, 2)), options.from];
        if (rng.chance(0.15)) mentors.push(options.to);
        mentors = rng.sample(mentors, mentors.length);
      }
    } else {
      createdby = rng.chance(0.05) ? options.to : rng.pick(others);
      mentors = [...someOthers(rng.int(0, 2)), ...(rng.chance(0.05) ? [options.to] : [])];
    }
    const subject = rng.pick(SUBJECTS);
    batches.push({
      courseid: rng.pick(courses),
      batchid,
      name: `${subject} ${rng.pick(KINDS)} - Batch ${rng.int(1, 12)}`,
      createdby,
      mentors,
      createdfor: [rng.chance(0.8) ? orgs[0]! : rng.pick(orgs)],
      status,
      startdate: isoDay(start),
      enddate: isoDay(end),
      enrollmenttype: rng.chance(0.8) ? 'open' : 'invite-only',
      description: `${subject} for the ${isoDay(start).slice(0, 7)} intake`,
    });
  }
  return batches;
}

/** A row as read back from Cassandra, as a CourseBatch (an empty list reads back as null). */
export function courseBatchOf(row: { get(column: string): unknown }): CourseBatch {
  const list = (v: unknown) => ((v as string[] | null) ?? []).map(String);
  return {
    courseid: String(row.get('courseid')),
    batchid: String(row.get('batchid')),
    name: String(row.get('name') ?? ''),
    createdby: String(row.get('createdby') ?? ''),
    mentors: list(row.get('mentors')),
    createdfor: list(row.get('createdfor')),
    status: Number(row.get('status')) as 0 | 1 | 2,
    startdate: String(row.get('startdate') ?? ''),
    enddate: String(row.get('enddate') ?? ''),
    enrollmenttype: String(row.get('enrollmenttype') ?? ''),
    description: String(row.get('description') ?? ''),
  };
}

/** Whether two batches hold the same values in every column. */
export function sameBatch(a: CourseBatch, b: CourseBatch): boolean {
  return COURSE_BATCH_COLUMNS.every((c) => JSON.stringify(a[c]) === JSON.stringify(b[c]));
}

/** The key of a batch as one string (for maps). */
export const batchKey = (b: Pick<CourseBatch, 'courseid' | 'batchid'>): string => `${b.courseid}/${b.batchid}`;
