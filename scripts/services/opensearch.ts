// OpenSearch 2 and OpenSearch 3, from their integ-test zips on Maven Central.
//
// Neither zip carries the security plugin, so there is nothing to switch off (a plugins.security.*
// setting would even be rejected as unknown). What the zips hold differs a lot: 2.19.6 has only the
// transport-netty4 module (no reindex, painless, mapper-extras, ...), 3.6.0 has the full module
// set. OpenSearch 3 needs Java 21 or newer. Layout and launch: search-server.ts, under
// .services/opensearch2/ and .services/opensearch3/.
import { opensearch2Config, opensearch3Config } from './config.ts';
import type { SearchServerConfig, ServiceName } from './config.ts';
import { searchServer } from './search-server.ts';
import type { SearchService } from './search-server.ts';

function opensearch(name: ServiceName, config: SearchServerConfig): SearchService {
  return searchServer({
    name,
    kind: 'opensearch',
    config,
    artifact: `org.opensearch.distribution.integ-test-zip:opensearch:${config.version}:zip`,
    distFolder: `opensearch-${config.version}`,
    scheme: 'http',
    settings: '',
  });
}

export const opensearch2 = opensearch('opensearch2', opensearch2Config);
export const opensearch3 = opensearch('opensearch3', opensearch3Config);
