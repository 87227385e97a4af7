/**
 * A URL as it may appear in logs and errors: scheme, host and port only. Webhook URLs of Slack,
 * Teams, Discord… carry their credential in the path or query, and basic auth in the userinfo.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const hidden = (u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.username !== '';
    return `${u.protocol}//${u.host}${hidden ? '/…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}
