/**
 * The one base-URL rule of every HTTP output with an API path: the path is appended to the
 * configured URL unless the URL already ends with it (or with one of the destination's documented
 * aliases, e.g. Splunk's `/services/collector`). So `https://es:9200`, `https://gw/es` and
 * `https://gw/es/_bulk` all work, and a gateway prefix is never dropped. The query is kept.
 */
export function apiUrl(base: string, apiPath: string, aliases: readonly string[] = []): string {
  const url = new URL(base);
  const path = url.pathname.replace(/\/+$/, '');
  const complete = [apiPath, ...aliases].some((p) => path.endsWith(p));
  url.pathname = complete ? path : `${path}${apiPath}`;
  return url.toString();
}
