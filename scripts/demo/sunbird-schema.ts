// CQL schema of Sunbird's `user` and `organisation` tables (user-org service), as its public data
// dictionary describes them: the same column names and CQL types, primary key `id` on both. Next to
// them the two tables that relate them: `user_organisation` (a user's memberships, one partition per
// user, one row per organisation) and `user_roles` (a user's roles, one row per role, each with its
// scope), keyed the way Sunbird keys them.
//
// The keyspace name is a parameter so that a benchmark or a test can use its own keyspace next to
// the demo's `sunbird`.

/** Quotes a CQL identifier unless it is already a plain lower-case one. */
export function cqlIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** `CREATE KEYSPACE IF NOT EXISTS`, SimpleStrategy with the given replication factor (default 1). */
export function createKeyspaceCql(keyspace: string, replicationFactor = 1): string {
  return (
    `CREATE KEYSPACE IF NOT EXISTS ${cqlIdentifier(keyspace)} ` +
    `WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${replicationFactor}}`
  );
}

export function createUserTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${cqlIdentifier(keyspace)}.user (
    id text PRIMARY KEY,
    userid text,
    firstname text,
    lastname text,
    username text,
    email text,
    phone text,
    recoveryemail text,
    recoveryphone text,
    prevusedemail text,
    prevusedphone text,
    maskedemail text,
    maskedphone text,
    countrycode text,
    channel text,
    rootorgid text,
    createdby text,
    updatedby text,
    managedby text,
    createddate text,
    updateddate text,
    dob text,
    tncacceptedon timestamp,
    tncacceptedversion text,
    alltncaccepted map<text, text>,
    framework map<text, frozen<list<text>>>,
    profilelocation text,
    profileusertypes text,
    flagsvalue int,
    status int,
    isdeleted boolean,
    emailverified boolean,
    phoneverified boolean,
    roles list<text>,
    locationids list<text>
  )`;
}

export function createOrganisationTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${cqlIdentifier(keyspace)}.organisation (
    id text PRIMARY KEY,
    hashtagid text,
    orgname text,
    description text,
    email text,
    externalid text,
    slug text,
    channel text,
    provider text,
    rootorgid text,
    istenant boolean,
    isssoenabled boolean,
    isrootorg boolean,
    organisationtype int,
    status int,
    orglocation text,
    keys map<text, frozen<list<text>>>,
    createdby text,
    updatedby text,
    createddate text,
    updateddate text
  )`;
}

/**
 * A user's membership of an organisation. `associationtype` is Sunbird's bit set of how the user
 * got there: 1 SSO, 2 self-declaration, 4 system upload. Dates are text like the user's.
 */
export function createUserOrganisationTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${cqlIdentifier(keyspace)}.user_organisation (
    userid text,
    organisationid text,
    id text,
    hashtagid text,
    addedby text,
    addedbyname text,
    approvaldate text,
    approvedby text,
    isapproved boolean,
    isdeleted boolean,
    isrejected boolean,
    orgjoindate text,
    orgleftdate text,
    position text,
    roles list<text>,
    updatedby text,
    updateddate text,
    associationtype int,
    PRIMARY KEY ((userid), organisationid)
  )`;
}

/** A user's role; `scope` is JSON text: the organisations it holds in, `[{"organisationId":"…"}]`. */
export function createUserRolesTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${cqlIdentifier(keyspace)}.user_roles (
    userid text,
    role text,
    createdby text,
    createddate text,
    updatedby text,
    updateddate text,
    scope text,
    PRIMARY KEY ((userid), role)
  )`;
}

/** Every statement, in order: keyspace first, then the tables. Each is idempotent (IF NOT EXISTS). */
export function sunbirdSchemaCql(keyspace = 'sunbird', replicationFactor = 1): string[] {
  return [
    createKeyspaceCql(keyspace, replicationFactor),
    createUserTableCql(keyspace),
    createOrganisationTableCql(keyspace),
    createUserOrganisationTableCql(keyspace),
    createUserRolesTableCql(keyspace),
  ];
}

/** The smallest client surface this module needs (a cassandra-driver Client fits). */
export interface CqlExecutor {
  execute(query: string, params?: unknown[], options?: object): Promise<unknown>;
}

/** Creates the keyspace and the four tables if they do not exist yet. */
export async function createSunbirdSchema(client: CqlExecutor, keyspace = 'sunbird', replicationFactor = 1): Promise<void> {
  for (const statement of sunbirdSchemaCql(keyspace, replicationFactor)) {
    // DDL waits for schema agreement; give it more than the default read timeout.
    await client.execute(statement, [], { readTimeout: 60_000 });
  }
}
