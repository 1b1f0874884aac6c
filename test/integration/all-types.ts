// The table of every CQL type that the type tests share: its columns (a UDT `address` must exist
// in the keyspace) and a row with a value of each type.
import type cassandra from 'cassandra-driver';

export const ALL_TYPES_COLUMNS = `
    id text PRIMARY KEY,
    a ascii, t text, vc varchar, i int, bi bigint, si smallint, ti tinyint, vi varint,
    f float, d double, de decimal, b boolean, u uuid, tu timeuuid, ts timestamp, dt date, tm time,
    du duration, ip inet, bl blob,
    l list<int>, s set<text>, m map<text, int>, fl frozen<list<text>>,
    mk map<timestamp, text>, nested map<text, frozen<list<text>>>,
    tup tuple<int, text, boolean>, addr address, faddr frozen<address>,
    vec vector<float, 3>, empty_text text, nothing int`;

/** Creates `address` and `<table>` in the keyspace and inserts the row 'r1'. */
export async function createAllTypesTable(cql: cassandra.Client, KS: string, table = 'all_types'): Promise<void> {
  await cql.execute(`CREATE TYPE IF NOT EXISTS ${KS}.address (street text, zip int, tags frozen<list<text>>)`);
  await cql.execute(`CREATE TABLE ${KS}.${table} (${ALL_TYPES_COLUMNS})`);
  await cql.execute(`INSERT INTO ${KS}.${table} (id, a, t, vc, i, bi, si, ti, vi, f, d, de, b, u, tu, ts, dt, tm, du, ip, bl,
      l, s, m, fl, mk, nested, tup, addr, faddr, vec, empty_text) VALUES (
    'r1', 'ascii', 'text ü', 'varchar', -2147483648, 9223372036854775807, -32768, -128,
    123456789012345678901234567890, 3.14, 0.1, 12345678901234567890.000000000001, true,
    5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91, 50554d6e-29bb-11e5-b345-feff819cdc9f,
    '2020-09-28 15:47:15.919+0000', '1987-12-31', '13:30:54.234', 1y2mo3d4h5m6s7ms8us9ns,
    '192.168.0.1', 0xcafe, [3, 1, 2], {'b', 'a'}, {'x': 1, 'y': 2}, ['p', 'q'],
    {'2020-01-01 00:00:00+0000': 'new year'}, {'board': ['State (Tamil Nadu)'], 'medium': ['English', 'Hindi']},
    (1, 'two', false), {street: 'Main', zip: 600001, tags: ['home']}, {street: 'Side', zip: null, tags: null},
    [1.5, -2.25, 3.1], '')`);
}
