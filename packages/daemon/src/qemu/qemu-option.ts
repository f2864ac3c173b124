/** QEMU's option syntax splits on commas; a literal comma in a value is written twice. */
export function escapeValue(value: string): string {
  if (value.includes('\0') || value.includes('\n')) throw new Error(`QEMU option value contains a NUL or newline: ${JSON.stringify(value)}`);
  return value.replaceAll(',', ',,');
}

/** Builds "driver,key=value,..." with every value escaped; undefined values are left out. */
export function option(head: string, props: Record<string, string | number | boolean | undefined> = {}): string {
  const parts = [escapeValue(head)];
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
    parts.push(`${key}=${escapeValue(text)}`);
  }
  return parts.join(',');
}
