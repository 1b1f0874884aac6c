// Elasticsearch 8 (the default search server) and Elasticsearch 7, security off.
//
// Both come from the integ-test zip, the one Elasticsearch distribution on Maven Central: the real
// server with a reduced module set (transport-netty4, x-pack-core, x-pack-security; 8.x adds apm).
// Missing there: the reindex module (no _delete_by_query, _update_by_query, _reindex), painless,
// analysis-common. On 8.x `GET /` answers 405, which is why probes use /_cluster/health and
// /_nodes (search-server.ts). Layout and launch: search-server.ts, under .services/elasticsearch/
// and .services/elasticsearch7/.
import { elasticsearch7Config, elasticsearchConfig } from './config.ts';
import { searchServer } from './search-server.ts';

const securityOff = `# Plain HTTP, no users: what the bulk of the tests run against.
xpack.security.enabled: false
`;

export const elasticsearch = searchServer({
  name: 'elasticsearch',
  kind: 'elasticsearch',
  config: elasticsearchConfig,
  artifact: `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${elasticsearchConfig.version}:zip`,
  distFolder: `elasticsearch-${elasticsearchConfig.version}`,
  scheme: 'http',
  settings: securityOff,
});

export const elasticsearch7 = searchServer({
  name: 'elasticsearch7',
  kind: 'elasticsearch',
  config: elasticsearch7Config,
  artifact: `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${elasticsearch7Config.version}:zip`,
  distFolder: `elasticsearch-${elasticsearch7Config.version}`,
  scheme: 'http',
  settings: securityOff,
});
