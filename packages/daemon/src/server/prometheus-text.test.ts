import { describe, expect, it } from 'vitest';
import type { VmSample } from '@lodge/api';
import { prometheusText } from './prometheus-text.js';

interface ParsedFamily {
  type?: string;
  help?: string;
  series: Map<string, number>;
}

/** A strict reader of the text exposition format (0.0.4), after the rules of Prometheus' own parser (expfmt). */
function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, ParsedFamily>();
  const closed = new Set<string>();
  let current: string | undefined;
  const family = (name: string): ParsedFamily => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`family ${name} is not contiguous`);
      if (current) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) families.set(name, (f = { series: new Map() }));
    return f;
  };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const f = family(name);
      if (kind === 'TYPE') {
        if (f.type || f.series.size) throw new Error(`TYPE of ${name} repeated or after its samples`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type ${rest}`);
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`HELP of ${name} repeated`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`bad escape in HELP of ${name}`);
        f.help = rest;
      }
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`).exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText = '', valueText] = m as unknown as [string, string, string | undefined, string];
    const labels = labelText.replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/g, '');
    if (labels !== '') throw new Error(`bad labels in: ${line}`);
    const value = ['NaN', '+Inf', '-Inf'].includes(valueText) ? Number(valueText.replace('Inf', 'Infinity')) : Number(valueText);
    if (valueText.trim() === '' || (Number.isNaN(value) && valueText !== 'NaN')) throw new Error(`bad value in: ${line}`);
    const f = family(name);
    if (f.series.has(labelText)) throw new Error(`duplicate series ${name}{${labelText}}`);
    f.series.set(labelText, value);
  }
  return families;
}

const base: VmSample = {
  vm: 'web', time: '2025-01-01T00:00:00.000Z', cpuSeconds: 12.5, cpuPercent: 98.7, vcpus: 1, qemuRssBytes: 250e6,
  diskReadBytes: 4096, diskWriteBytes: 8192, diskReadOps: 1, diskWriteOps: 2,
};

describe('prometheusText', () => {
  it('writes HELP and TYPE once per family, a vm label per series, counters as _total', () => {
    const text = prometheusText([
      { ...base, netRxBytes: 100, netTxBytes: 200, guestMemTotalBytes: 190e6, guestMemAvailableBytes: 150e6 },
      { ...base, vm: 'db', cpuSeconds: 3, cpuPercent: 0 },
    ]);
    const families = parseExposition(text);
    for (const [name, f] of families) {
      expect(f.help, name).toBeTruthy();
      expect(f.type === 'counter', name).toBe(name.endsWith('_total'));
    }
    expect(families.get('lodge_vm_cpu_seconds_total')?.series).toEqual(new Map([['vm="web"', 12.5], ['vm="db"', 3]]));
    expect(families.get('lodge_vm_cpu_percent')?.series.get('vm="web"')).toBe(98.7);
    expect(families.get('lodge_vm_network_receive_bytes_total')?.series).toEqual(new Map([['vm="web"', 100]]));
    expect(families.has('lodge_vm_memory_limit_bytes')).toBe(false); // measured for nobody
  });

  it('escapes label values and gives an empty exposition for no VMs', () => {
    const families = parseExposition(prometheusText([{ ...base, vm: 'odd"na\\me' }]));
    expect([...(families.get('lodge_vm_vcpus')?.series.keys() ?? [])]).toEqual(['vm="odd\\"na\\\\me"']);
    expect(prometheusText([])).toBe('');
  });

  it('the reader refuses what Prometheus would', () => {
    expect(() => parseExposition('a 1')).toThrow(/newline/);
    expect(() => parseExposition('# TYPE a counter\n# TYPE a counter\n')).toThrow(/repeated/);
    expect(() => parseExposition('a{vm="x} 1\n')).toThrow(/bad labels|not a sample/);
    expect(() => parseExposition('a 1\nb 1\na 2\n')).toThrow(/contiguous/);
    expect(() => parseExposition('a one\n')).toThrow(/bad value/);
  });
});
