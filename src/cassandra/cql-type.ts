/**
 * CQL type descriptors as the driver reports them (`DataTypeInfo`), and their CQL names.
 * Only the subset of the driver's shape that cesync reads.
 */
import cassandra from 'cassandra-driver';

export const T = cassandra.types.dataTypes;

export interface CqlType {
  readonly code: number;
  readonly info?: unknown;
  readonly customTypeName?: string;
  readonly options?: { readonly frozen?: boolean; readonly reversed?: boolean };
}

export interface UdtInfo {
  readonly name: string;
  readonly fields: readonly { readonly name: string; readonly type: CqlType }[];
}

export const isVector = (t: CqlType): boolean =>
  t.code === T.custom && t.customTypeName === 'vector' && Array.isArray(t.info);

export const isCollection = (t: CqlType): boolean => t.code === T.list || t.code === T.set || t.code === T.map;

/** Multi-cell (non-frozen) collections and UDTs: WRITETIME does not apply, MAXWRITETIME does. */
export const isMultiCell = (t: CqlType): boolean =>
  (isCollection(t) || t.code === T.udt) && !(t.options?.frozen ?? false);

const SCALAR_NAMES = new Map(Object.entries(T).filter(([, code]) => typeof code === 'number').map(([name, code]) => [code as number, name]));

/**
 * A type's CQL name, for messages: `int`, `map<text, frozen<list<int>>>`, `vector<float, 3>`.
 */
export function cqlTypeName(t: CqlType): string {
  const inner = (x: unknown) => {
    const type = x as CqlType;
    const name = cqlTypeName(type);
    return type.options?.frozen && (type.code === T.list || type.code === T.set || type.code === T.map || type.code === T.tuple || type.code === T.udt) ? `frozen<${name}>` : name;
  };
  switch (t.code) {
    case T.list:
      return `list<${inner(t.info)}>`;
    case T.set:
      return `set<${inner(t.info)}>`;
    case T.map: {
      const [k, v] = t.info as [CqlType, CqlType];
      return `map<${inner(k)}, ${inner(v)}>`;
    }
    case T.tuple:
      return `tuple<${(t.info as CqlType[]).map(inner).join(', ')}>`;
    case T.udt:
      return (t.info as UdtInfo).name;
    default:
      if (isVector(t)) {
        const [el, n] = t.info as [CqlType, number];
        return `vector<${inner(el)}, ${n}>`;
      }
      return SCALAR_NAMES.get(t.code) ?? `custom(${String(t.customTypeName ?? t.info)})`;
  }
}
