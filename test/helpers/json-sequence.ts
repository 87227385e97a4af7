/**
 * The JSON documents of a body that holds one or several back to back (Splunk HEC's batch format,
 * `{…}{…}` with any whitespace between). Strings are skipped properly, so braces inside event text
 * do not split a document; anything but whitespace between documents throws.
 */
export function jsonDocuments(body: string): string[] {
  const docs: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if ((c === '}' || c === ']') && --depth === 0) docs.push(body.slice(start, i + 1));
    else if (depth === 0 && !/\s/.test(c)) throw new Error(`unexpected ${c} between documents at ${i}`);
  }
  if (depth !== 0) throw new Error('unterminated document');
  return docs;
}
