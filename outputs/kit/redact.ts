/** An output sends to a handful of URLs: each is parsed once, not on every request (2 % of the worker's CPU at 500/s, issue #10). */
const redacted = new Map<string, string>();

/**
 * A URL as it may appear in logs and errors: scheme, host and port only. Webhook URLs of Slack,
 * Teams, Discord… carry their credential in the path or query, and basic auth in the userinfo.
 */
export function redactUrl(url: string): string {
  let shown = redacted.get(url);
  if (shown !== undefined) return shown;
  try {
    const u = new URL(url);
    const hidden = (u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.username !== '';
    shown = `${u.protocol}//${u.host}${hidden ? '/…' : ''}`;
  } catch {
    shown = '<invalid url>';
  }
  if (redacted.size >= 1000) redacted.clear();
  redacted.set(url, shown);
  return shown;
}

