import type { Hono } from 'hono';
import { API, LodgeError } from '@lodge/api';
import type { Services } from '../core/services.js';
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from './prometheus-text.js';

const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 100_000;

function sinceMs(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new LodgeError('invalid_argument', `since=${JSON.stringify(text)} is not a time`, { hint: 'give an ISO time, e.g. since=2025-01-01T12:00:00Z' });
  return ms;
}

function limitOf(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new LodgeError('invalid_argument', `limit=${JSON.stringify(text)} is not a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

/** Samples: latest per running VM, one VM's history, and the Prometheus exposition. */
export function metricsRoutes(app: Hono, s: Services): void {
  app.get(API.stats, (c) => c.json(s.metrics.latest()));
  app.get('/v1/vms/:name/stats', (c) => {
    const opts = { sinceMs: sinceMs(c.req.query('since')), limit: limitOf(c.req.query('limit')) };
    return c.json(s.metrics.history(c.req.param('name'), opts));
  });
  app.get(API.metrics, (c) => c.body(prometheusText(s.metrics.latest()), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }));
}
