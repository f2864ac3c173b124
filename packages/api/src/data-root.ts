/** Where Lodge keeps its data: LODGE_HOME, else /var/lib/lodge for root, else $XDG_DATA_HOME/lodge or ~/.local/share/lodge. */
export function dataRootFor(opts: { env: Record<string, string | undefined>; uid: number | undefined; home: string }): string {
  if (opts.env.LODGE_HOME) return opts.env.LODGE_HOME;
  if (opts.uid === 0) return '/var/lib/lodge';
  return `${opts.env.XDG_DATA_HOME ?? `${opts.home}/.local/share`}/lodge`;
}
