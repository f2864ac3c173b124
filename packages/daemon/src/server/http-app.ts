import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import { API, LodgeError, StartOptions, StopOptions, type VmInfo } from '@lodge/api';
import type { Services } from '../core/services.js';
import { parseOrThrow } from '../core/validate.js';
import { toApiError } from './error-response.js';
import { guestRoutes } from './guest-routes.js';
import { metricsRoutes } from './metrics-routes.js';

const VERSION = '0.1.0';

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  return text.trim() === '' ? {} : JSON.parse(text);
}

const flag = (c: Context, name: string): boolean => ['1', 'true', 'yes'].includes(c.req.query(name) ?? '');

/** REST routes: validate, call core, answer; long actions answer 202 with an operation. */
export function httpApp(s: Services): Hono {
  const app = new Hono();
  // VmInfo carries the guest's readiness while the VM runs.
  const withGuest = (info: VmInfo): VmInfo => ({ ...info, guest: s.guest.summary(info.name) });
  const vmInfo = (name: string): VmInfo => withGuest(s.vms.get(name));
  app.onError((err, c) => {
    const { status, body } = toApiError(err);
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json(toApiError(new LodgeError('not_found', `no API route ${c.req.method} ${c.req.path}`)).body, 404));

  app.get(API.ping, (c) => c.json({ ok: true, version: VERSION, pid: process.pid }));
  app.get(API.host, async (c) => c.json(await s.host.report({ refresh: flag(c, 'refresh') })));

  app.get(API.images, async (c) => c.json(await s.images.list()));
  app.get('/v1/images/:name', async (c) => c.json(await s.images.get(c.req.param('name'))));
  app.post(API.images, async (c) => c.json(await s.images.import(await jsonBody(c)), 202));
  app.get('/v1/images/:name/inspect', async (c) => c.json(await s.images.inspect(c.req.param('name'))));
  app.delete('/v1/images/:name', async (c) => {
    await s.images.remove(c.req.param('name'));
    return c.json({ deleted: c.req.param('name') });
  });
  app.post('/v1/images/:name/build', async (c) => {
    const body = (await jsonBody(c)) as Record<string, unknown>;
    // ?force=1 is the older spelling of { "force": true }.
    const request = flag(c, 'force') && typeof body === 'object' && body !== null ? { ...body, force: true } : body;
    return c.json(s.images.build(c.req.param('name'), request), 202);
  });

  app.get(API.vms, (c) => c.json(s.vms.list().map(withGuest)));
  app.post(API.vms, async (c) => c.json(await s.vms.create(await jsonBody(c)), 201));
  app.get('/v1/vms/:name', (c) => c.json(vmInfo(c.req.param('name'))));
  app.delete('/v1/vms/:name', async (c) => {
    await s.vms.delete(c.req.param('name'), { force: flag(c, 'force') });
    return c.json({ deleted: c.req.param('name') });
  });
  app.patch('/v1/vms/:name', async (c) => {
    const { vm, result } = await s.settings.update(c.req.param('name'), await jsonBody(c));
    return c.json({ vm: withGuest(vm), result });
  });
  app.get('/v1/vms/:name/disks', async (c) => c.json(await s.disks.list(c.req.param('name'))));
  app.post('/v1/vms/:name/disks', async (c) => c.json(await s.disks.add(c.req.param('name'), await jsonBody(c)), 201));
  app.patch('/v1/vms/:name/disks/:disk', async (c) => c.json(await s.disks.update(c.req.param('name'), c.req.param('disk'), await jsonBody(c))));
  app.delete('/v1/vms/:name/disks/:disk', async (c) => {
    await s.disks.remove(c.req.param('name'), c.req.param('disk'));
    return c.json({ deleted: c.req.param('disk') });
  });
  app.post('/v1/vms/:name/start', async (c) => {
    const opts = parseOrThrow(StartOptions, await jsonBody(c), 'start options');
    return c.json(await s.lifecycle.start(c.req.param('name'), opts), 202);
  });
  app.post('/v1/vms/:name/stop', async (c) => {
    const opts = parseOrThrow(StopOptions, await jsonBody(c), 'stop options');
    return c.json(await s.lifecycle.stop(c.req.param('name'), opts), 202);
  });
  app.post('/v1/vms/:name/restart', async (c) => c.json(await s.lifecycle.restart(c.req.param('name')), 202));
  app.post('/v1/vms/:name/pause', async (c) => (await s.lifecycle.pause(c.req.param('name')), c.json(vmInfo(c.req.param('name')))));
  app.post('/v1/vms/:name/resume', async (c) => (await s.lifecycle.resume(c.req.param('name')), c.json(vmInfo(c.req.param('name')))));
  app.get('/v1/vms/:name/logs', (c) => {
    const chunks = s.vms.logs(c.req.param('name'), { follow: flag(c, 'follow'), signal: c.req.raw.signal });
    c.header('content-type', 'text/plain; charset=utf-8');
    return stream(c, async (out) => {
      for await (const chunk of chunks) await out.write(chunk);
    });
  });

  guestRoutes(app, s);
  metricsRoutes(app, s);

  app.get('/v1/operations/:id', (c) => c.json(s.ops.get(c.req.param('id'))));
  app.get('/v1/operations/:id/wait', async (c) => {
    const timeout = Math.min(Number(c.req.query('timeout') ?? 60), 600) * 1000;
    return c.json(await s.ops.wait(c.req.param('id'), AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(timeout)])));
  });
  return app;
}
