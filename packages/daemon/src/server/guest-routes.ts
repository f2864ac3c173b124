import type { Context, Hono } from 'hono';
import { LodgeError } from '@lodge/api';
import { MAX_MESSAGE_BYTES } from '@lodge/api/guest';
import type { Services } from '../core/services.js';
import { readBody } from './request-body.js';

const DEFAULT_REQUEST_MS = 30_000;
const MAX_REQUEST_MS = 600_000;

function timeoutOf(c: Context): number {
  const raw = c.req.query('timeoutMs');
  const ms = raw === undefined ? DEFAULT_REQUEST_MS : Number(raw);
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_REQUEST_MS) throw new LodgeError('invalid_argument', `timeoutMs must be an integer from 0 to ${MAX_REQUEST_MS}, not ${raw}`);
  return ms;
}

/** REST routes of the guest: its status, and publishing (or requesting) on its message bus. */
export function guestRoutes(app: Hono, s: Services): void {
  app.get('/v1/vms/:name/guest', async (c) => c.json(await s.guest.status(c.req.param('name'))));

  app.post('/v1/vms/:name/bus/:topic', async (c) => {
    const vm = c.req.param('name');
    const topic = c.req.param('topic');
    const body = await readBody(c.req.raw, MAX_MESSAGE_BYTES);
    if (!['1', 'true', 'yes'].includes(c.req.query('request') ?? '')) return c.json(await s.guest.publish(vm, { topic, body }));
    const reply = await s.guest.request(vm, { topic, body }, timeoutOf(c));
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'x-lodge-reply-topic': reply.topic };
    if (reply.replyTo) headers['x-lodge-reply-to'] = reply.replyTo;
    return c.body(new Uint8Array(reply.body), 200, headers);
  });
}
