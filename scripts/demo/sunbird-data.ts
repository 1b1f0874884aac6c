// Realistic rows for Sunbird's `organisation`, `user`, `user_organisation` and `user_roles` tables
// (see sunbird-schema.ts), generated from a seed: the same arguments always give the same rows, on
// every machine.
//
// The values follow the forms of Sunbird's data dictionary: 19-digit organisation ids, UUID user
// ids, dates as text like `2020-09-28 15:47:15:919+0000`, encrypted contact columns next to masked
// ones, JSON inside text columns, lists inside maps, soft-deleted and managed (child) users, and a
// fair share of null columns. A user row is about 1 KB. Memberships and roles are derived from the
// user rows with random streams of their own, so adding them changed no user or organisation row.
//
// Used by the demo and, with other sizes and keyspaces, by benchmarks; loadRows() writes any rows to
// any table.
import { Prng } from './prng.ts';

// ---------------------------------------------------------------------------------------------
// Row shapes (one property per column; null = the column is not set)

export type SunbirdOrganisation = {
  id: string;
  hashtagid: string;
  orgname: string;
  description: string | null;
  email: string | null;
  externalid: string | null;
  slug: string;
  channel: string;
  provider: string | null;
  rootorgid: string | null;
  istenant: boolean;
  isssoenabled: boolean | null;
  isrootorg: boolean;
  organisationtype: number;
  status: number;
  orglocation: string;
  keys: Record<string, string[]> | null;
  createdby: string;
  updatedby: string | null;
  createddate: string;
  updateddate: string | null;
};

export type SunbirdUser = {
  id: string;
  userid: string;
  firstname: string;
  lastname: string | null;
  username: string;
  email: string | null;
  phone: string | null;
  recoveryemail: string | null;
  recoveryphone: string | null;
  prevusedemail: string | null;
  prevusedphone: string | null;
  maskedemail: string | null;
  maskedphone: string | null;
  countrycode: string | null;
  channel: string;
  rootorgid: string;
  createdby: string | null;
  updatedby: string | null;
  managedby: string | null;
  createddate: string;
  updateddate: string | null;
  dob: string | null;
  tncacceptedon: Date | null;
  tncacceptedversion: string | null;
  alltncaccepted: Record<string, string> | null;
  framework: Record<string, string[]> | null;
  profilelocation: string | null;
  profileusertypes: string | null;
  flagsvalue: number;
  status: number;
  isdeleted: boolean;
  emailverified: boolean;
  phoneverified: boolean;
  roles: string[] | null;
  locationids: string[] | null;
};

/** A row of `user_organisation`: one user's membership of one organisation. */
export type SunbirdUserOrganisation = {
  userid: string;
  organisationid: string;
  id: string;
  hashtagid: string;
  addedby: string | null;
  addedbyname: string | null;
  approvaldate: string | null;
  approvedby: string | null;
  isapproved: boolean;
  isdeleted: boolean;
  isrejected: boolean;
  orgjoindate: string;
  orgleftdate: string | null;
  position: string | null;
  roles: string[] | null;
  updatedby: string | null;
  updateddate: string | null;
  associationtype: number;
};

/** A row of `user_roles`: one role of one user; `scope` is JSON text. */
export type SunbirdUserRole = {
  userid: string;
  role: string;
  createdby: string | null;
  createddate: string;
  updatedby: string | null;
  updateddate: string | null;
  scope: string;
};

/** Any row: column name -> value (null or undefined: leave the column unset). */
export type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Reference data

type NameGroup = { male: readonly string[]; female: readonly string[]; last: readonly string[] };

const names = {
  tamil: {
    male: ['Arun', 'Karthik', 'Senthil', 'Murugan', 'Vignesh', 'Saravanan', 'Prakash', 'Dinesh', 'Ganesh', 'Balaji', 'Suresh', 'Rajesh', 'Manikandan', 'Elango'],
    female: ['Priya', 'Kavya', 'Divya', 'Lakshmi', 'Meena', 'Revathi', 'Deepa', 'Anitha', 'Kalaiselvi', 'Saranya', 'Nandhini', 'Janani', 'Tamilselvi', 'Gayathri'],
    last: ['Kumar', 'Raman', 'Subramanian', 'Krishnan', 'Murugesan', 'Natarajan', 'Pandian', 'Selvam', 'Rajendran', 'Shanmugam', 'Arumugam', 'Velu'],
  },
  telugu: {
    male: ['Srinivas', 'Venkatesh', 'Ravi', 'Naresh', 'Mahesh', 'Sai', 'Kiran', 'Harish', 'Ramesh', 'Chandra', 'Praveen', 'Anil'],
    female: ['Lavanya', 'Swathi', 'Sravani', 'Padma', 'Bhavani', 'Sirisha', 'Haritha', 'Anusha', 'Keerthi', 'Sowmya', 'Madhavi', 'Sujatha'],
    last: ['Reddy', 'Naidu', 'Rao', 'Chowdary', 'Varma', 'Goud', 'Yadav', 'Raju', 'Babu', 'Sastry', 'Kumar'],
  },
  kannada: {
    male: ['Manjunath', 'Prasad', 'Naveen', 'Shivakumar', 'Raghu', 'Girish', 'Santosh', 'Vinay', 'Basavaraj', 'Mallikarjun', 'Chetan'],
    female: ['Shruthi', 'Pavithra', 'Rashmi', 'Sahana', 'Bhavya', 'Kavitha', 'Roopa', 'Sushma', 'Chaitra', 'Veena', 'Spoorthi'],
    last: ['Gowda', 'Hegde', 'Shetty', 'Patil', 'Kulkarni', 'Rao', 'Naik', 'Bhat', 'Murthy', 'Swamy'],
  },
  malayalam: {
    male: ['Anoop', 'Arjun', 'Sreejith', 'Vishnu', 'Akhil', 'Rahul', 'Jithin', 'Nikhil', 'Midhun', 'Sanjay'],
    female: ['Anjali', 'Aswathy', 'Sreelakshmi', 'Divya', 'Gopika', 'Athira', 'Neethu', 'Reshma', 'Amrutha', 'Lekshmi'],
    last: ['Nair', 'Menon', 'Pillai', 'Kurup', 'Varghese', 'Thomas', 'Joseph', 'Kutty', 'Panicker', 'Mathew'],
  },
  hindi: {
    male: ['Amit', 'Rahul', 'Ankit', 'Vikas', 'Saurabh', 'Deepak', 'Rohit', 'Manoj', 'Sandeep', 'Ajay', 'Pradeep', 'Vivek', 'Ramesh', 'Shivam'],
    female: ['Pooja', 'Neha', 'Priyanka', 'Anjali', 'Sunita', 'Rekha', 'Shalini', 'Kavita', 'Nisha', 'Ritu', 'Sapna', 'Komal', 'Geeta', 'Aarti'],
    last: ['Sharma', 'Verma', 'Yadav', 'Singh', 'Gupta', 'Mishra', 'Tiwari', 'Pandey', 'Chauhan', 'Meena', 'Jain', 'Dubey', 'Kushwaha', 'Rathore'],
  },
  marathi: {
    male: ['Sachin', 'Rohan', 'Omkar', 'Prathamesh', 'Swapnil', 'Tushar', 'Nilesh', 'Sagar', 'Ganesh', 'Akshay'],
    female: ['Snehal', 'Pranali', 'Rutuja', 'Shraddha', 'Ashwini', 'Manasi', 'Tejaswini', 'Vaishnavi', 'Pallavi', 'Sayali'],
    last: ['Patil', 'Jadhav', 'Pawar', 'Deshmukh', 'Kulkarni', 'Shinde', 'More', 'Gaikwad', 'Joshi', 'Chavan'],
  },
  gujarati: {
    male: ['Hardik', 'Jignesh', 'Nirav', 'Chirag', 'Bhavesh', 'Ketan', 'Mehul', 'Parth', 'Dhaval', 'Kalpesh'],
    female: ['Hetal', 'Krupa', 'Dhara', 'Nidhi', 'Jinal', 'Khushbu', 'Riddhi', 'Foram', 'Bhumi', 'Komal'],
    last: ['Patel', 'Shah', 'Desai', 'Mehta', 'Parmar', 'Chaudhary', 'Solanki', 'Trivedi', 'Joshi', 'Rathod'],
  },
  odia: {
    male: ['Subhash', 'Debasis', 'Manas', 'Biswajit', 'Prasanta', 'Sanjay', 'Ashok', 'Soumya', 'Satya', 'Ranjan'],
    female: ['Sasmita', 'Pragyan', 'Subhashree', 'Lipsa', 'Madhusmita', 'Itishree', 'Rashmita', 'Bandita', 'Smita', 'Jyotsna'],
    last: ['Mohanty', 'Das', 'Panda', 'Behera', 'Nayak', 'Sahoo', 'Pradhan', 'Mishra', 'Swain', 'Rout'],
  },
} satisfies Record<string, NameGroup>;

type State = {
  channel: string;
  name: string;
  /** Census state code, used in location codes. */
  code: string;
  language: string;
  names: NameGroup;
  districts: readonly string[];
  framework: string;
  /** Share of the users (relative weight). */
  weight: number;
};

const states: readonly State[] = [
  { channel: 'TN', name: 'Tamil Nadu', code: '33', language: 'Tamil', names: names.tamil, framework: 'tn_k-12_5', weight: 20,
    districts: ['Chennai', 'Madurai', 'Coimbatore', 'Tiruchirappalli', 'Salem', 'Tirunelveli', 'Vellore', 'Erode', 'Thanjavur', 'Dindigul'] },
  { channel: 'AP', name: 'Andhra Pradesh', code: '28', language: 'Telugu', names: names.telugu, framework: 'ap_k-12_1', weight: 12,
    districts: ['Visakhapatnam', 'Guntur', 'Krishna', 'Chittoor', 'Kurnool', 'Anantapur', 'Nellore', 'Prakasam'] },
  { channel: 'KA', name: 'Karnataka', code: '29', language: 'Kannada', names: names.kannada, framework: 'ka_k-12_1', weight: 10,
    districts: ['Bengaluru Urban', 'Mysuru', 'Belagavi', 'Dharwad', 'Kalaburagi', 'Dakshina Kannada', 'Tumakuru', 'Ballari'] },
  { channel: 'UP', name: 'Uttar Pradesh', code: '09', language: 'Hindi', names: names.hindi, framework: 'up_k-12_3', weight: 18,
    districts: ['Lucknow', 'Kanpur Nagar', 'Varanasi', 'Agra', 'Prayagraj', 'Gorakhpur', 'Meerut', 'Bareilly'] },
  { channel: 'MH', name: 'Maharashtra', code: '27', language: 'Marathi', names: names.marathi, framework: 'mh_k-12_2', weight: 14,
    districts: ['Pune', 'Mumbai Suburban', 'Nagpur', 'Nashik', 'Aurangabad', 'Thane', 'Kolhapur', 'Solapur'] },
  { channel: 'RJ', name: 'Rajasthan', code: '08', language: 'Hindi', names: names.hindi, framework: 'rj_k-12_1', weight: 8,
    districts: ['Jaipur', 'Jodhpur', 'Udaipur', 'Kota', 'Ajmer', 'Bikaner', 'Alwar'] },
  { channel: 'GJ', name: 'Gujarat', code: '24', language: 'Gujarati', names: names.gujarati, framework: 'gj_k-12_1', weight: 6,
    districts: ['Ahmedabad', 'Surat', 'Vadodara', 'Rajkot', 'Bhavnagar', 'Jamnagar'] },
  { channel: 'MP', name: 'Madhya Pradesh', code: '23', language: 'Hindi', names: names.hindi, framework: 'mp_k-12_1', weight: 6,
    districts: ['Bhopal', 'Indore', 'Jabalpur', 'Gwalior', 'Ujjain', 'Sagar'] },
  { channel: 'KL', name: 'Kerala', code: '32', language: 'Malayalam', names: names.malayalam, framework: 'kl_k-12_2', weight: 4,
    districts: ['Thiruvananthapuram', 'Ernakulam', 'Kozhikode', 'Thrissur', 'Kollam', 'Palakkad'] },
  { channel: 'OD', name: 'Odisha', code: '21', language: 'Odia', names: names.odia, framework: 'od_k-12_1', weight: 4,
    districts: ['Khordha', 'Cuttack', 'Ganjam', 'Sambalpur', 'Balasore', 'Mayurbhanj'] },
];

const schoolKinds = [
  'Government Higher Secondary School',
  'Government High School',
  'Government Primary School',
  'Government Middle School',
  'Government Girls Higher Secondary School',
  'Panchayat Union Primary School',
  'Government Model School',
  'Kendriya Vidyalaya',
  'Government Composite School',
  'Aided Upper Primary School',
];

const coreSubjects = ['Mathematics', 'Science', 'English', 'Social Science', 'Environmental Studies'];
const seniorSubjects = ['Physics', 'Chemistry', 'Biology', 'Accountancy', 'Economics', 'Computer Science'];
const emailDomains: readonly (readonly [string, number])[] = [
  ['gmail.com', 60],
  ['yahoo.com', 10],
  ['yopmail.com', 12],
  ['rediffmail.com', 6],
  ['outlook.com', 7],
  ['hotmail.com', 5],
];
const userTypes: readonly (readonly [string, number])[] = [
  ['student', 45],
  ['teacher', 30],
  ['administrator', 6],
  ['parent', 12],
  ['other', 7],
];
const administratorSubTypes = ['hm', 'crp', 'brc', 'deo', 'schoolLeader'];
const tncKinds = ['groupsTnc', 'orgAdminTnc', 'reportViewerTnc'];

// ---------------------------------------------------------------------------------------------
// Value forms

const DAY = 86_400_000;
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Sunbird's date text: `2020-09-28 15:47:15:919+0000` (UTC, a colon before the milliseconds). */
export function sunbirdDate(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}:${pad(d.getUTCMilliseconds(), 3)}+0000`
  );
}

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A time in [from, to) (ISO dates), uniformly. */
function between(rng: Prng, from: string, to: string): number {
  const a = Date.parse(from);
  const b = Date.parse(to);
  return a + Math.floor(rng.next() * (b - a));
}

/**
 * What Sunbird stores in an encrypted column: base64 of AES blocks, so the length follows the
 * plain text's length in 16-byte steps. Random bytes stand in for the cipher text.
 */
function encrypted(rng: Prng, plain: string): string {
  const blocks = Math.floor(Buffer.byteLength(plain) / 16) + 1;
  return rng.bytes(blocks * 16).toString('base64');
}

/** `te*****@yopmail.com`: two characters, five stars, the domain. */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  return `${email.slice(0, Math.min(2, at))}*****${email.slice(at)}`;
}

/** `98******09`: the first and the last two digits. */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 2)}${'*'.repeat(Math.max(0, phone.length - 4))}${phone.slice(-2)}`;
}

function mobileNumber(rng: Prng): string {
  return `${rng.pick(['6', '7', '8', '9', '9', '9'])}${rng.digits(9)}`;
}

function alnum(rng: Prng, n: number): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < n; i++) out += chars[rng.uint32() % chars.length];
  return out;
}

/** A 19-digit organisation id like `0126796199493140480` (Sunbird's ids start with 01). */
function organisationId(rng: Prng): string {
  return `01${rng.int(26, 35)}${rng.digits(15)}`;
}

/** 11-digit UDISE school code: state, district, block, village, school. */
function udiseCode(rng: Prng, state: State, districtIndex: number): string {
  return `${state.code}${pad(districtIndex + 1)}${rng.digits(7)}`;
}

type Location = { code: string; type: string };

function locationOf(rng: Prng, state: State, districtIndex: number, depth: number): Location[] {
  const district = `${state.code}${pad(districtIndex + 1)}`;
  const block = `${district}${pad(rng.int(1, 15))}`;
  const cluster = `${block}${pad(rng.int(1, 40))}`;
  const all: Location[] = [
    { code: state.code, type: 'state' },
    { code: district, type: 'district' },
    { code: block, type: 'block' },
    { code: cluster, type: 'cluster' },
  ];
  return all.slice(0, depth);
}

// ---------------------------------------------------------------------------------------------
// Organisations

/** The tenants for `n` organisations: one per state, at most one per 50 organisations. */
function tenantCount(n: number): number {
  return Math.max(1, Math.min(states.length, Math.ceil(n / 50)));
}

/**
 * `n` organisations: first the tenants (state education departments: istenant, rootorgid null),
 * then schools, each a sub-organisation of one tenant (rootorgid = the tenant's id, same channel).
 */
export function generateOrganisations(n: number, seed = 1): SunbirdOrganisation[] {
  const rng = new Prng(seed).fork('organisation');
  const ids = new Set<string>();
  const freshId = (): string => {
    for (;;) {
      const id = organisationId(rng);
      if (!ids.has(id)) {
        ids.add(id);
        return id;
      }
    }
  };
  const admins = Array.from({ length: 8 }, () => rng.uuid());
  const orgs: SunbirdOrganisation[] = [];
  const tenants = states.slice(0, Math.min(n, tenantCount(n)));
  for (const state of tenants) {
    const id = freshId();
    const created = between(rng, '2017-03-01', '2018-12-31');
    const ch = state.channel.toLowerCase();
    const updated = rng.chance(0.8) ? created + rng.int(30, 900) * DAY + rng.int(0, DAY) : null;
    orgs.push({
      id,
      hashtagid: id,
      orgname: state.name,
      description: `${state.name} State Department of School Education`,
      email: rng.chance(0.8) ? `support.${ch}@schooledu.example.in` : null,
      externalid: ch,
      slug: ch,
      channel: state.channel,
      provider: null,
      rootorgid: null,
      istenant: true,
      isssoenabled: rng.chance(0.5),
      isrootorg: true,
      organisationtype: 5,
      status: 1,
      orglocation: JSON.stringify(locationOf(rng, state, 0, 1)),
      keys: { signKeys: [String(rng.int(5000, 5999)), String(rng.int(5000, 5999))], encKeys: [String(rng.int(6000, 6999))] },
      createdby: rng.pick(admins),
      updatedby: updated === null ? null : rng.pick(admins),
      createddate: sunbirdDate(created),
      updateddate: updated === null ? null : sunbirdDate(updated),
    });
  }
  const tenantOrgs = [...orgs];
  for (let i = orgs.length; i < n; i++) {
    const tenantIndex = i % tenantOrgs.length;
    const tenant = tenantOrgs[tenantIndex]!;
    const state = tenants[tenantIndex]!;
    const districtIndex = rng.int(0, state.districts.length - 1);
    const district = state.districts[districtIndex]!;
    const id = freshId();
    const created = between(rng, '2018-06-01', '2021-12-31');
    const updated = rng.chance(0.6) ? created + rng.int(1, 1000) * DAY + rng.int(0, DAY) : null;
    const kind = rng.pick(schoolKinds);
    const place = rng.chance(0.5) ? district : `${district} ${rng.pick(['East', 'West', 'North', 'South', 'Town', 'Rural'])}`;
    const ch = state.channel.toLowerCase();
    orgs.push({
      id,
      hashtagid: id,
      orgname: `${kind}, ${place}${rng.chance(0.3) ? ` No. ${rng.int(1, 5)}` : ''}`,
      description: rng.chance(0.4) ? `${kind} in ${district} district, ${state.name}` : null,
      email: rng.chance(0.3) ? `hm.${rng.digits(6)}@schooledu.example.in` : null,
      externalid: udiseCode(rng, state, districtIndex),
      slug: ch,
      channel: state.channel,
      provider: ch,
      rootorgid: tenant.id,
      istenant: false,
      isssoenabled: rng.chance(0.5) ? false : null,
      isrootorg: false,
      organisationtype: 2,
      status: rng.chance(0.97) ? 1 : 0,
      orglocation: JSON.stringify(locationOf(rng, state, districtIndex, 3)),
      keys: null,
      createdby: rng.pick(admins),
      updatedby: updated === null ? null : rng.pick(admins),
      createddate: sunbirdDate(created),
      updateddate: updated === null ? null : sunbirdDate(updated),
    });
  }
  return orgs;
}

// ---------------------------------------------------------------------------------------------
// Users

type Adult = { id: string; tenant: number; districtIndex: number; lastname: string | null };

function framework(rng: Prng, state: State, type: string, grade: number | undefined): Record<string, string[]> {
  const board = rng.chance(0.85) ? `State (${state.name})` : 'CBSE';
  const media = rng.chance(0.6) ? ['English'] : rng.chance(0.7) ? [state.language] : ['English', state.language];
  let grades: number[];
  if (grade !== undefined) grades = [grade];
  else if (type === 'teacher') grades = rng.sample([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], rng.int(1, 3)).sort((a, b) => a - b);
  else grades = [rng.int(1, 12)];
  const subjects = [...coreSubjects, state.language, 'Hindi', ...(Math.max(...grades) > 10 ? seniorSubjects : [])];
  const subjectCount = type === 'teacher' ? rng.int(1, 2) : rng.int(1, 4);
  return {
    board: [board],
    gradeLevel: grades.map((g) => `Class ${g}`),
    medium: media,
    subject: rng.sample([...new Set(subjects)], subjectCount),
    id: [state.framework],
  };
}

/**
 * `n` users spread over the tenants of `orgs` (each user's rootorgid and channel are a tenant's),
 * about 1 KB each. About 6% are child users managed by an earlier user (managedby set, no email or
 * phone), 2% are soft-deleted. Lazily generated: rows are made as they are consumed.
 */
export function* generateUsers(n: number, orgs: readonly SunbirdOrganisation[], seed = 1): Generator<SunbirdUser> {
  const tenantOrgs = orgs.filter((o) => o.istenant);
  if (tenantOrgs.length === 0) throw new Error('generateUsers needs at least one tenant organisation');
  const tenantStates = tenantOrgs.map((o) => states.find((s) => s.channel === o.channel) ?? states[0]!);
  const weights = tenantStates.map((s, i) => [i, s.weight] as const);
  const rng = new Prng(seed).fork('user');
  const adminIds = tenantOrgs.map(() => Array.from({ length: 5 }, () => rng.uuid()));
  const recentAdults: Adult[] = [];
  const usernames = new Set<string>();

  for (let i = 0; i < n; i++) {
    const id = rng.uuid();
    const child = recentAdults.length > 0 && rng.chance(0.06);
    const parent = child ? rng.pick(recentAdults) : undefined;
    const tenant = parent ? parent.tenant : rng.weighted(weights);
    const state = tenantStates[tenant]!;
    const org = tenantOrgs[tenant]!;
    const districtIndex = parent ? parent.districtIndex : rng.int(0, state.districts.length - 1);
    const type = child ? 'student' : rng.weighted(userTypes);

    const female = rng.chance(0.5);
    const firstname = rng.pick(female ? state.names.female : state.names.male);
    const lastname = parent ? parent.lastname : rng.chance(0.85) ? rng.pick(state.names.last) : null;
    let username: string;
    do username = `${firstname.toLowerCase()}_${alnum(rng, 4)}`;
    while (usernames.has(username));
    usernames.add(username);

    const created = between(rng, '2019-06-01', '2024-12-31');
    const updated = rng.chance(0.75) ? Math.min(created + rng.int(0, 700) * DAY + rng.int(0, DAY), Date.parse('2025-06-30')) : null;
    const birth = child
      ? between(rng, '2010-01-01', '2018-12-31')
      : type === 'student'
        ? between(rng, '2006-01-01', '2016-12-31')
        : between(rng, '1965-01-01', '2000-12-31');

    // Contact details: adults have a phone, an email or both (encrypted, plus a masked copy);
    // child users have none.
    let email: string | null = null;
    let phone: string | null = null;
    if (!child) {
      const contact = rng.weighted([['phone', 60], ['email', 25], ['both', 15]] as const);
      if (contact !== 'phone') {
        const local = `${firstname.toLowerCase()}${rng.chance(0.5) && lastname ? `.${lastname.toLowerCase()}` : ''}${rng.chance(0.7) ? rng.int(1, 9999) : ''}`;
        email = `${local}@${rng.weighted(emailDomains)}`;
      }
      if (contact !== 'email') phone = mobileNumber(rng);
    }
    const recoveryEmail = !child && rng.chance(0.1) ? `${firstname.toLowerCase()}${rng.int(10, 99)}@gmail.com` : null;
    const recoveryPhone = !child && rng.chance(0.05) ? mobileNumber(rng) : null;
    const prevEmail = email && rng.chance(0.03) ? `${firstname.toLowerCase()}.old${rng.int(1, 99)}@yahoo.com` : null;
    const prevPhone = phone && rng.chance(0.03) ? mobileNumber(rng) : null;
    const emailVerified = email !== null && rng.chance(0.9);
    const phoneVerified = phone !== null && rng.chance(0.95);
    const stateValidated = rng.chance(0.2);

    const tncAccepted = child ? rng.chance(0.5) : rng.chance(0.9);
    const tncAt = tncAccepted ? created + rng.int(5_000, 600_000) : null;
    let allTnc: Record<string, string> | null = null;
    if (!child && (type === 'teacher' || type === 'administrator') && rng.chance(0.6)) {
      allTnc = {};
      for (const kind of rng.sample(tncKinds, type === 'administrator' ? rng.int(1, 3) : 1)) {
        const at = created + rng.int(1, 400) * DAY;
        allTnc[kind] = JSON.stringify({ tncAcceptedOn: sunbirdDate(at), version: rng.pick(['3.5.0', '3.9.0', '4.0.0']) });
      }
    }

    // A pupil's class follows their age (in 2024), give or take a year.
    const age = 2024 - new Date(birth).getUTCFullYear();
    const grade = type === 'student' ? Math.min(12, Math.max(1, age - 5 + rng.int(-1, 0))) : undefined;
    const userTypeEntry =
      type === 'administrator' ? { type, subType: rng.pick(administratorSubTypes) } : { type, subType: null };
    const isDeleted = rng.chance(0.02);
    const status = isDeleted ? 0 : rng.chance(0.96) ? 1 : 0;
    const createdBy = parent ? parent.id : rng.chance(0.25) ? rng.pick(adminIds[tenant]!) : null;

    const user: SunbirdUser = {
      id,
      userid: id,
      firstname,
      lastname,
      username,
      email: email === null ? null : encrypted(rng, email),
      phone: phone === null ? null : encrypted(rng, phone),
      recoveryemail: recoveryEmail === null ? null : encrypted(rng, recoveryEmail),
      recoveryphone: recoveryPhone === null ? null : encrypted(rng, recoveryPhone),
      prevusedemail: prevEmail === null ? null : encrypted(rng, prevEmail),
      prevusedphone: prevPhone === null ? null : encrypted(rng, prevPhone),
      maskedemail: email === null ? null : maskEmail(email),
      maskedphone: phone === null ? null : maskPhone(phone),
      countrycode: phone === null && rng.chance(0.5) ? null : '+91',
      channel: state.channel,
      rootorgid: org.id,
      createdby: createdBy,
      updatedby: updated === null ? null : rng.chance(0.8) ? id : rng.pick(adminIds[tenant]!),
      managedby: parent ? parent.id : null,
      createddate: sunbirdDate(created),
      updateddate: updated === null ? null : sunbirdDate(updated),
      dob: rng.chance(0.85) ? (rng.chance(0.4) ? `${new Date(birth).getUTCFullYear()}-12-31` : isoDay(birth)) : null,
      tncacceptedon: tncAt === null ? null : new Date(tncAt),
      tncacceptedversion: tncAt === null ? null : rng.weighted([['v13', 60], ['v12', 30], ['v11', 10]] as const),
      alltncaccepted: allTnc,
      framework: rng.chance(0.9) ? framework(rng, state, type, grade) : null,
      profilelocation: rng.chance(0.9) ? JSON.stringify(locationOf(rng, state, districtIndex, rng.int(2, 4))) : null,
      profileusertypes: rng.chance(0.92) ? JSON.stringify([userTypeEntry]) : null,
      flagsvalue: (phoneVerified ? 1 : 0) | (emailVerified ? 2 : 0) | (stateValidated ? 4 : 0),
      status,
      isdeleted: isDeleted,
      emailverified: emailVerified,
      phoneverified: phoneVerified,
      roles: rng.chance(0.3) ? ['PUBLIC'] : null,
      locationids: rng.chance(0.2) ? [rng.uuid(), rng.uuid()] : null,
    };
    yield user;

    if (!child && type !== 'student') {
      const adult: Adult = { id, tenant, districtIndex, lastname };
      if (recentAdults.length < 200) recentAdults.push(adult);
      else recentAdults[rng.int(0, recentAdults.length - 1)] = adult;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Memberships (user_organisation) and roles (user_roles)

/** The generated data's "now": nothing is dated later (the user generator's cap too). */
const DATA_END = Date.parse('2025-06-30');

/** How many organisations a user belongs to, by weight. */
const membershipCounts = [[1, 70], [2, 22], [3, 8]] as const;

/** Sunbird's association mechanisms, a bit set (its AssociationMechanism class). */
const SSO = 1;
const SELF_DECLARATION = 2;
const SYSTEM_UPLOAD = 4;

/** How many roles a user has besides PUBLIC, by the user's type (profileusertypes). */
const extraRoleCounts: Record<string, readonly (readonly [number, number])[]> = {
  teacher: [[0, 55], [1, 33], [2, 12]],
  administrator: [[0, 35], [1, 45], [2, 20]],
  other: [[0, 96], [1, 3], [2, 1]],
};

/** Which roles besides PUBLIC, by weight: administrators are the likely organisation admins. */
function extraRoleWeights(type: string): readonly (readonly [string, number])[] {
  return [
    ['CONTENT_CREATOR', 35],
    ['COURSE_MENTOR', 30],
    ['BOOK_CREATOR', 12],
    ['REPORT_VIEWER', type === 'administrator' ? 25 : 10],
    ['ORG_ADMIN', type === 'administrator' ? 30 : 2],
  ];
}

const positions: Record<string, readonly string[]> = {
  teacher: ['Teacher', 'Assistant Teacher', 'Head Teacher', 'Subject Teacher'],
  administrator: ['Head Master', 'Cluster Resource Person', 'Block Resource Coordinator', 'Principal'],
};

/** Milliseconds of a Sunbird date text (`2020-09-28 15:47:15:919+0000`, always UTC here). */
function parseSunbirdDate(text: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d):(\d{3})\+0000$/.exec(text);
  if (!m) throw new Error(`not a Sunbird date: ${text}`);
  return Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`);
}

/** The user's type from profileusertypes (`[{"type":"teacher",...}]`); `other` when not set. */
function userTypeOf(user: SunbirdUser): string {
  if (user.profileusertypes === null) return 'other';
  const [entry] = JSON.parse(user.profileusertypes) as { type?: string }[];
  return entry?.type ?? 'other';
}

/** `count` distinct values picked by weight, one after the other. */
function weightedDistinct<T>(rng: Prng, entries: readonly (readonly [T, number])[], count: number): T[] {
  const left = [...entries];
  const out: T[] = [];
  while (out.length < count && left.length > 0) {
    const value = rng.weighted(left);
    out.push(value);
    left.splice(left.findIndex(([v]) => v === value), 1);
  }
  return out;
}

/** The memberships and roles of one user. */
export type SunbirdUserLinks = { memberships: SunbirdUserOrganisation[]; roles: SunbirdUserRole[] };

type Admin = { id: string; name: string };

/**
 * The memberships and roles of each of `users` (rows of generateUsers on the same `orgs`), one
 * entry per user, in the users' order. Every user belongs to 1 to 3 organisations (70/22/8%): first
 * their root organisation (rootorgid), then schools of the same tenant (any other organisation when
 * the tenant has too few). Memberships of a soft-deleted user are deleted, and about 11% of the
 * school memberships of the others (about 5% of all memberships). Every user has the role PUBLIC
 * scoped to the root organisation; teachers and administrators often, others rarely, have one or
 * two more (CONTENT_CREATOR, COURSE_MENTOR, BOOK_CREATOR, REPORT_VIEWER, ORG_ADMIN), each scoped
 * to one of their current organisations.
 *
 * Each user's rows come from a random stream of their own (seed and user id), so they do not
 * depend on the other users, and the user rows' stream is left alone.
 */
export function* generateUserLinks(
  users: Iterable<SunbirdUser>,
  orgs: readonly SunbirdOrganisation[],
  seed = 1,
): Generator<SunbirdUserLinks> {
  const byId = new Map(orgs.map((o) => [o.id, o] as const));
  const schoolsOf = new Map<string, SunbirdOrganisation[]>();
  for (const o of orgs) {
    if (o.rootorgid === null) continue;
    const list = schoolsOf.get(o.rootorgid) ?? [];
    list.push(o);
    schoolsOf.set(o.rootorgid, list);
  }
  // Each tenant's administrators, who add users to schools and grant roles.
  const shared = new Prng(seed).fork('user_organisation');
  const adminsOf = new Map<string, Admin[]>();
  for (const tenant of orgs.filter((o) => o.istenant)) {
    const state = states.find((s) => s.channel === tenant.channel) ?? states[0]!;
    adminsOf.set(
      tenant.id,
      Array.from({ length: 5 }, () => ({
        id: shared.uuid(),
        name: `${shared.pick(shared.chance(0.5) ? state.names.female : state.names.male)} ${shared.pick(state.names.last)}`,
      })),
    );
  }
  const adminOf = (rng: Prng, org: SunbirdOrganisation): Admin | undefined => {
    const admins = adminsOf.get(org.rootorgid ?? org.id);
    return admins ? rng.pick(admins) : undefined;
  };

  for (const user of users) {
    const rng = new Prng(seed).fork(`user_organisation:${user.id}`);
    const created = parseSunbirdDate(user.createddate);
    const updated = user.updateddate === null ? null : parseSunbirdDate(user.updateddate);
    const type = userTypeOf(user);

    // Which organisations: the root one, then schools of its tenant, then anything else.
    const root = byId.get(user.rootorgid);
    if (root === undefined) throw new Error(`user ${user.id}: root organisation ${user.rootorgid} is not among orgs`);
    const count = Math.min(rng.weighted(membershipCounts), orgs.length);
    const chosen = [root, ...rng.sample(schoolsOf.get(root.id) ?? [], count - 1)];
    if (chosen.length < count) {
      const taken = new Set(chosen.map((o) => o.id));
      chosen.push(...rng.sample(orgs.filter((o) => !taken.has(o.id)), count - chosen.length));
    }

    type Membership = { org: SunbirdOrganisation; row: SunbirdUserOrganisation; joined: number; roles: string[] };
    const memberships: Membership[] = chosen.map((org, i) => {
      const isRoot = i === 0;
      // The root membership starts at sign-up; a school is joined later, by the user or an admin.
      const joined = isRoot
        ? created + rng.int(1_000, 300_000)
        : Math.min(created + rng.int(0, 500) * DAY + rng.int(60_000, DAY), DATA_END - 30 * DAY);
      const admin = !isRoot && rng.chance(0.55) ? adminOf(rng, org) : undefined;
      const addedBy = isRoot ? user.createdby : (admin?.id ?? user.id);
      const association = isRoot
        ? user.createdby !== null && user.managedby === null
          ? SYSTEM_UPLOAD
          : rng.weighted([[SELF_DECLARATION, 60], [SSO, 35], [SSO | SELF_DECLARATION, 5]] as const)
        : admin
          ? SYSTEM_UPLOAD
          : SELF_DECLARATION;
      const rejected = !isRoot && !admin && rng.chance(0.02);
      const reviewer = rejected ? adminOf(rng, org) : admin;
      const deleted = user.isdeleted || (!isRoot && rng.chance(0.11));
      let left: number | null = null;
      if (deleted) {
        left = Math.min(joined + rng.int(1, 600) * DAY + rng.int(0, DAY), DATA_END);
        if (user.isdeleted && updated !== null && updated > joined) left = updated;
      }
      const later = left === null && rng.chance(0.25) ? joined + Math.floor(rng.next() * (DATA_END - joined)) : null;
      const choices = positions[type];
      const row: SunbirdUserOrganisation = {
        userid: user.id,
        organisationid: org.id,
        id: rng.uuid(),
        hashtagid: org.id,
        addedby: addedBy,
        addedbyname: admin?.name ?? null,
        approvaldate: reviewer ? sunbirdDate(joined + (rejected ? rng.int(1, 30) * DAY : 0)) : null,
        approvedby: reviewer?.id ?? null,
        isapproved: admin !== undefined,
        isdeleted: deleted,
        isrejected: rejected,
        orgjoindate: sunbirdDate(joined),
        orgleftdate: left === null ? null : sunbirdDate(left),
        position: !isRoot && choices && rng.chance(0.4) ? rng.pick(choices) : null,
        roles: null,
        updatedby: left !== null ? (admin?.id ?? user.id) : later !== null ? (reviewer?.id ?? user.id) : null,
        updateddate: left !== null ? sunbirdDate(left) : later !== null ? sunbirdDate(later) : null,
        associationtype: association,
      };
      return { org, row, joined, roles: isRoot ? ['PUBLIC'] : [] };
    });

    // Roles: PUBLIC from sign-up on, scoped to the root organisation; the others each scoped to
    // one organisation the user still belongs to (the root one when none is left).
    const first = memberships[0]!;
    const current = memberships.filter((m) => !m.row.isdeleted);
    const scopeOf = (m: Membership): string => JSON.stringify([{ organisationId: m.org.id }]);
    const roles: SunbirdUserRole[] = [
      {
        userid: user.id,
        role: 'PUBLIC',
        createdby: user.createdby ?? user.id,
        createddate: sunbirdDate(first.joined),
        updatedby: null,
        updateddate: null,
        scope: scopeOf(first),
      },
    ];
    const extraCount = rng.weighted(extraRoleCounts[type] ?? extraRoleCounts.other!);
    for (const role of weightedDistinct(rng, extraRoleWeights(type), extraCount)) {
      const m = current.length > 0 ? rng.pick(current) : first;
      const granted = Math.min(m.joined + rng.int(0, 300) * DAY + rng.int(0, DAY), DATA_END);
      const granter = adminOf(rng, m.org);
      const changed = rng.chance(0.15) ? granted + Math.floor(rng.next() * (DATA_END - granted)) : null;
      roles.push({
        userid: user.id,
        role,
        createdby: granter?.id ?? null,
        createddate: sunbirdDate(granted),
        updatedby: changed === null ? null : (granter?.id ?? null),
        updateddate: changed === null ? null : sunbirdDate(changed),
        scope: scopeOf(m),
      });
      m.roles.push(role);
    }
    // The membership lists the roles held there (older Sunbird data keeps them in both places).
    for (const m of memberships) m.row.roles = m.roles.length > 0 ? m.roles : null;

    yield { memberships: memberships.map((m) => m.row), roles };
  }
}

/** The rows of `user_organisation` for `users`: generateUserLinks' memberships, flattened. */
export function* generateUserOrganisations(
  users: Iterable<SunbirdUser>,
  orgs: readonly SunbirdOrganisation[],
  seed = 1,
): Generator<SunbirdUserOrganisation> {
  for (const links of generateUserLinks(users, orgs, seed)) yield* links.memberships;
}

/** The rows of `user_roles` for `users`: generateUserLinks' roles, flattened. */
export function* generateUserRoles(
  users: Iterable<SunbirdUser>,
  orgs: readonly SunbirdOrganisation[],
  seed = 1,
): Generator<SunbirdUserRole> {
  for (const links of generateUserLinks(users, orgs, seed)) yield* links.roles;
}

// ---------------------------------------------------------------------------------------------
// Loading

/** The part of a cassandra-driver Client that loadRows needs. */
export interface CqlWriter {
  execute(query: string, params?: unknown[], options?: object): Promise<unknown>;
}

export interface LoadOptions {
  /** Expected number of rows, for the progress line (percentage). */
  total?: number;
  /** Name shown in progress lines; default `keyspace.table`. */
  label?: string;
  /** Where progress goes; default process.stderr. `null` for none. */
  progress?: NodeJS.WritableStream | null;
  /** Attempts per row on a timeout or overload (default 4). */
  attempts?: number;
}

export interface LoadResult {
  rows: number;
  durationMs: number;
  rowsPerSecond: number;
}

function cqlName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

const retryable = (error: unknown): boolean =>
  /timeout|timed out|overloaded|NoHostAvailable|busy/i.test(`${(error as Error)?.name} ${(error as Error)?.message}`);

/**
 * Inserts `rows` into `keyspace.table` with prepared statements, at most `concurrency` at a time.
 * Each row's own columns form its INSERT (statements are prepared once per column set); null and
 * undefined values are sent as "unset", so no tombstones are written. Progress on stderr.
 * Rejects on the first row that fails after its retries.
 */
export async function loadRows(
  client: CqlWriter,
  keyspace: string,
  table: string,
  rows: Iterable<Row> | AsyncIterable<Row>,
  concurrency = 64,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const label = options.label ?? `${keyspace}.${table}`;
  const out = options.progress === undefined ? process.stderr : options.progress;
  const tty = out !== null && (out as { isTTY?: boolean }).isTTY === true;
  const attempts = options.attempts ?? 4;
  const queries = new Map<string, string>();
  const target = `${cqlName(keyspace)}.${cqlName(table)}`;

  const queryFor = (columns: string[]): string => {
    const key = columns.join(',');
    let q = queries.get(key);
    if (q === undefined) {
      q = `INSERT INTO ${target} (${columns.map(cqlName).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
      queries.set(key, q);
    }
    return q;
  };

  const iterator: Iterator<Row> | AsyncIterator<Row> =
    Symbol.asyncIterator in rows ? rows[Symbol.asyncIterator]() : (rows as Iterable<Row>)[Symbol.iterator]();

  const started = performance.now();
  let done = 0;
  let lastReport = started;
  let failure: unknown;

  const report = (final: boolean): void => {
    if (out === null) return;
    const now = performance.now();
    if (!final && now - lastReport < (tty ? 250 : 5000)) return;
    lastReport = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const pct = options.total ? ` (${Math.floor((100 * done) / options.total)}%)` : '';
    const of = options.total ? `/${options.total}` : '';
    const line = `loading ${label}: ${done}${of} rows${pct}, ${rate} rows/s`;
    if (tty) out.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else out.write(`${line}\n`);
  };

  const writeOne = async (row: Row): Promise<void> => {
    const columns = Object.keys(row);
    const params = columns.map((c) => row[c] ?? undefined);
    const query = queryFor(columns);
    for (let attempt = 1; ; attempt++) {
      try {
        await client.execute(query, params, { prepare: true });
        return;
      } catch (error) {
        if (attempt >= attempts || !retryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  };

  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const next = await iterator.next();
      if (next.done) return;
      try {
        await writeOne(next.value);
      } catch (error) {
        failure ??= error;
        return;
      }
      done++;
      report(false);
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (failure !== undefined) {
    if (tty && out !== null) out.write('\n');
    throw failure;
  }
  report(true);
  const durationMs = performance.now() - started;
  return { rows: done, durationMs, rowsPerSecond: durationMs > 0 ? (done * 1000) / durationMs : 0 };
}
