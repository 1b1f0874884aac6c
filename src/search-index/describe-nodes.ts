/** Where a search cluster is, for messages: its nodes' scheme, host and port, never credentials. */
export function describeNodes(config: { readonly node: string | readonly string[] }): string {
  const nodes = typeof config.node === 'string' ? [config.node] : config.node;
  return nodes.map((n) => {
    const u = new URL(n);
    return `${u.protocol}//${u.host}`;
  }).join(',');
}
