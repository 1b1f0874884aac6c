// CCD's case_data for the PostgreSQL demo: the table as ccd-data-store-api's base migration has
// it (with the trigger that sets marked_by_logstash to false on every change of a case), and
// generated cases of four case types with realistic jsonb `data`. Seeded: same seed, same rows.
import type pg from 'pg';
import { Prng } from './prng.ts';

export const CASE_TYPES = [
  { id: 'GrantOfRepresentation', jurisdiction: 'PROBATE', states: ['Draft', 'CaseCreated', 'BOReadyForExamination', 'BOGrantIssued'] },
  { id: 'Benefit', jurisdiction: 'SSCS', states: ['appealCreated', 'withDwp', 'readyToList', 'hearing', 'dormantAppealState'] },
  { id: 'DIVORCE', jurisdiction: 'DIVORCE', states: ['AwaitingPayment', 'Submitted', 'AwaitingDecreeNisi', 'DNPronounced', 'DivorceGranted'] },
  { id: 'Asylum', jurisdiction: 'IA', states: ['appealStarted', 'appealSubmitted', 'awaitingRespondentEvidence', 'listing', 'decided'] },
] as const;

/** The schema, table, indexes and trigger (idempotent). */
export const CCD_DDL = (schema: string): string[] => [
  `CREATE SCHEMA IF NOT EXISTS ${schema}`,
  `DO $$ BEGIN CREATE TYPE ${schema}.securityclassification AS ENUM ('PUBLIC', 'PRIVATE', 'RESTRICTED'); EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  `CREATE TABLE IF NOT EXISTS ${schema}.case_data (
     id bigserial PRIMARY KEY,
     reference bigint NOT NULL UNIQUE,
     created_date timestamp without time zone NOT NULL DEFAULT now(),
     last_modified timestamp without time zone,
     last_state_modified_date timestamp without time zone,
     jurisdiction varchar(255) NOT NULL,
     case_type_id varchar(255) NOT NULL,
     state varchar(255) NOT NULL,
     security_classification ${schema}.securityclassification NOT NULL,
     data jsonb NOT NULL,
     data_classification jsonb,
     supplementary_data jsonb,
     version integer DEFAULT 1,
     marked_by_logstash boolean DEFAULT false
   )`,
  `CREATE INDEX IF NOT EXISTS idx_case_data_marked_by_logstash ON ${schema}.case_data (marked_by_logstash)`,
  `CREATE OR REPLACE FUNCTION ${schema}.set_case_data_marked_by_logstash() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN NEW.marked_by_logstash := false; RETURN NEW; END $$`,
  `DROP TRIGGER IF EXISTS trg_case_data_marked_by_logstash ON ${schema}.case_data`,
  `CREATE TRIGGER trg_case_data_marked_by_logstash BEFORE INSERT OR UPDATE OF data, data_classification, last_modified, last_state_modified_date, security_classification, state, supplementary_data
     ON ${schema}.case_data FOR EACH ROW EXECUTE FUNCTION ${schema}.set_case_data_marked_by_logstash()`,
];

export interface CaseRow {
  readonly reference: string;
  readonly created: string;
  readonly lastModified: string;
  readonly jurisdiction: string;
  readonly caseTypeId: string;
  readonly state: string;
  readonly classification: string;
  readonly data: string;
  readonly dataClassification: string;
  readonly supplementary: string | null;
}

const FORENAMES = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Harry', 'Mia', 'Noah', 'Ivy', 'Arthur', 'Rosie', 'Leo', 'Aisha', 'Mohammed', 'Priya', 'Tomasz', 'Siobhan', 'Dafydd'];
const SURNAMES = ['Smith', 'Jones', 'Williams', 'Taylor', 'Davies', 'Evans', 'Khan', 'Patel', 'Nowak', "O'Brien", 'Murphy', 'Hughes', 'Roberts', 'Walker'];
const TOWNS = ['Leeds', 'Cardiff', 'Bristol', 'Glasgow', 'Belfast', 'Norwich', 'Swansea', 'York', 'Luton', 'Derby'];
const NATIONALITIES = ['AF', 'ER', 'IR', 'SY', 'SD', 'AL', 'VN', 'IQ'];
const BENEFITS = [
  { code: 'PIP', description: 'Personal Independence Payment' },
  { code: 'ESA', description: 'Employment and Support Allowance' },
  { code: 'UC', description: 'Universal Credit' },
];

/** `count` cases, spread over the case types; references are 16 digits, as CCD's. */
export function generateCases(count: number, seed: number): CaseRow[] {
  const r = new Prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[r.uint32() % xs.length]!;
  const day = (from: number, span: number) => new Date(Date.UTC(2019, 0, 1) + (from + (r.uint32() % span)) * 86_400_000);
  const iso = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
  const rows: CaseRow[] = [];
  for (let i = 0; i < count; i++) {
    const type = CASE_TYPES[i % CASE_TYPES.length]!;
    const created = day(0, 1800);
    const modified = new Date(created.getTime() + (r.uint32() % 400) * 86_400_000 + (r.uint32() % 86_400_000));
    const forename = pick(FORENAMES);
    const surname = pick(SURNAMES);
    const email = `${forename}.${surname}${i}@example.org`.toLowerCase().replace("'", '');
    const postcode = `${pick(['LS', 'CF', 'BS', 'G', 'BT', 'NR'])}${1 + (r.uint32() % 20)} ${r.uint32() % 10}${pick(['AB', 'XY', 'QT', 'NP'])}`;
    const address = { AddressLine1: `${1 + (r.uint32() % 200)} ${pick(['High Street', 'Church Road', 'Station Road', 'Mill Lane'])}`, PostTown: pick(TOWNS), PostCode: postcode, Country: 'United Kingdom' };
    const party = { Name: `${forename} ${surname}`, EmailAddress: email, AddressLine1: address.AddressLine1, PostCode: postcode };
    let data: Record<string, unknown>;
    switch (type.id) {
      case 'GrantOfRepresentation':
        data = {
          applicationType: pick(['Personal', 'Solicitor']),
          deceasedForenames: pick(FORENAMES),
          deceasedSurname: surname,
          deceasedDateOfDeath: day(1000, 800).toISOString().slice(0, 10),
          deceasedAddress: address,
          primaryApplicantForenames: forename,
          primaryApplicantSurname: surname,
          primaryApplicantEmailAddress: email,
          // Pence, as CCD's money fields: beyond 2^53 for a few very large estates.
          ihtNetValue: i % 997 === 0 ? '9007199254740993' : String(5_000_00 + (r.uint32() % 90_000_000)),
          willExists: r.uint32() % 2 === 0 ? 'Yes' : 'No',
          SearchCriteria: { SearchParties: [{ id: `p${i}`, value: { ...party, DateOfDeath: day(1000, 800).toISOString().slice(0, 10) } }] },
        };
        break;
      case 'Benefit': {
        const benefit = pick(BENEFITS);
        data = {
          caseReference: `SC${100 + (r.uint32() % 900)}/${19 + (r.uint32() % 6)}/${String(r.uint32() % 100000).padStart(5, '0')}`,
          appeal: {
            appellant: { name: { title: pick(['Mr', 'Mrs', 'Ms', 'Mx']), firstName: forename, lastName: surname }, identity: { nino: `AB${String(r.uint32() % 1000000).padStart(6, '0')}C`, dob: day(-20000, 18000).toISOString().slice(0, 10) }, address },
            benefitType: benefit,
            hearingType: pick(['oral', 'paper']),
            receivedVia: pick(['Paper', 'Online']),
          },
          dwpState: pick(['FTA_RESPONSE', 'RESPONSE_SUBMITTED', 'UNREGISTERED']),
          SearchCriteria: { SearchParties: [{ id: `p${i}`, value: party }] },
        };
        break;
      }
      case 'DIVORCE':
        data = {
          D8PetitionerFirstName: forename,
          D8PetitionerLastName: surname,
          D8PetitionerEmail: email,
          D8RespondentFirstName: pick(FORENAMES),
          D8RespondentLastName: surname,
          D8MarriageDate: day(-6000, 5500).toISOString().slice(0, 10),
          D8DivorceUnit: pick(['eastMidlands', 'westMidlands', 'northWest', 'serviceCentre']),
          D8ReasonForDivorce: pick(['unreasonable-behaviour', 'separation-2-years', 'separation-5-years', 'desertion']),
          D8HelpWithFeesNeedHelp: r.uint32() % 3 === 0 ? 'Yes' : 'No',
        };
        break;
      default:
        data = {
          appealReferenceNumber: `${pick(['PA', 'EA', 'HU', 'RP'])}/${String(r.uint32() % 100000).padStart(5, '0')}/${2019 + (r.uint32() % 6)}`,
          homeOfficeReferenceNumber: `A${String(r.uint32() % 10000000).padStart(7, '0')}`,
          appellantGivenNames: forename,
          appellantFamilyName: surname,
          appellantDateOfBirth: day(-15000, 12000).toISOString().slice(0, 10),
          appellantNationalities: [{ id: `n${i}`, value: { code: pick(NATIONALITIES) } }],
          appellantHasFixedAddress: r.uint32() % 4 === 0 ? 'No' : 'Yes',
          hearingCentre: pick(['taylorHouse', 'manchester', 'newport', 'bradford', 'glasgow']),
          SearchCriteria: { SearchParties: [{ id: `p${i}`, value: party }] },
        };
    }
    const classification = Object.fromEntries(Object.keys(data).map((k) => [k, 'PUBLIC']));
    rows.push({
      reference: String(1_500_000_000_000_000 + i * 7919 + (r.uint32() % 7919)),
      created: iso(created),
      lastModified: iso(modified),
      jurisdiction: type.jurisdiction,
      caseTypeId: type.id,
      state: pick(type.states),
      classification: r.uint32() % 10 === 0 ? 'PRIVATE' : 'PUBLIC',
      data: JSON.stringify(data).replace(/"ihtNetValue":"(\d+)"/, '"ihtNetValue":$1'),
      dataClassification: JSON.stringify(classification),
      supplementary: r.uint32() % 5 === 0 ? JSON.stringify({ HMCTSServiceId: pick(['ABA1', 'BBA3', 'ABA5', 'BFA1']) }) : null,
    });
  }
  return rows;
}

/** Inserts the cases, 1,000 per statement (unnest of arrays: one round trip per batch). */
export async function insertCases(client: pg.Pool, schema: string, rows: readonly CaseRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const b = rows.slice(i, i + 1000);
    const col = <K extends keyof CaseRow>(k: K) => b.map((x) => x[k]);
    await client.query(
      `INSERT INTO ${schema}.case_data (reference, created_date, last_modified, last_state_modified_date, jurisdiction, case_type_id, state, security_classification, data, data_classification, supplementary_data)
       SELECT ref, cr, lm, lm, j, ct, st, sc::${schema}.securityclassification, d, dc, sd
         FROM unnest($1::bigint[], $2::timestamp[], $3::timestamp[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::jsonb[]) AS u(ref, cr, lm, j, ct, st, sc, d, dc, sd)`,
      [col('reference'), col('created'), col('lastModified'), col('jurisdiction'), col('caseTypeId'), col('state'), col('classification'), col('data'), col('dataClassification'), col('supplementary')],
    );
  }
}
