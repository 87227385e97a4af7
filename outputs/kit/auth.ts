/** `Authorization` value for HTTP Basic auth (RFC 7617); UTF-8 so non-ASCII passwords survive. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
