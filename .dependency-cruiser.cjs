/** Layer rules (ARCHITECTURE.md): packages and daemon layers import only downward. `npm run lint` fails with the rule's name. */
const D = '^packages/daemon/src/';
const lowerDaemon = `${D}(qemu|qmp|agent|qga|host|images|cidata|cgroup|metrics|store|sys|ports)/`;

module.exports = {
  forbidden: [
    { name: 'api-imports-only-zod', severity: 'error', from: { path: '^packages/api/' }, to: { dependencyTypes: ['npm', 'core'], pathNot: 'node_modules/zod' } },
    { name: 'client-only-api', severity: 'error', from: { path: '^packages/client/' }, to: { path: '^packages/(cli|daemon)/' } },
    { name: 'cli-never-daemon', severity: 'error', from: { path: '^packages/cli/' }, to: { path: '^packages/daemon/' } },
    { name: 'daemon-not-cli-or-client', severity: 'error', from: { path: '^packages/daemon/' }, to: { path: '^packages/(cli|client)/' } },
    {
      name: 'core-no-processes-or-sockets',
      comment: 'core holds use cases; processes and sockets belong to the driver layers',
      severity: 'error',
      from: { path: `${D}core/` },
      to: { path: '^(child_process|net|dgram|node:child_process|node:net|node:dgram)$' },
    },
    {
      name: 'core-only-ports-store-api',
      severity: 'error',
      from: { path: `${D}core/` },
      to: { path: `${D}(qemu|qmp|agent|qga|host|images|cidata|cgroup|server|sys)/|${D}main\\.ts` },
    },
    { name: 'server-only-core', severity: 'error', from: { path: `${D}server/` }, to: { path: `${D}(qemu|qmp|agent|qga|host|images|cgroup|store|sys)/|${D}main\\.ts` } },
    { name: 'cgroup-self-contained', comment: 'cgroups know files under /sys/fs/cgroup, nothing of QEMU', severity: 'error', from: { path: `${D}cgroup/` }, to: { path: `${D}(qemu|qmp|agent|qga|host|images|store)/` } },
    { name: 'lower-layers-not-upward', severity: 'error', from: { path: lowerDaemon }, to: { path: `${D}(core|server)/|${D}main\\.ts` } },
    { name: 'qmp-self-contained', severity: 'error', from: { path: `${D}qmp/` }, to: { path: `${D}(qemu|host|images|store|sys|ports)/` } },
    { name: 'store-below-drivers', severity: 'error', from: { path: `${D}(store|sys|ports)/` }, to: { path: `${D}(qemu|qmp|agent|qga|host|images|cgroup)/` } },
    { name: 'guest-links-self-contained', severity: 'error', from: { path: `${D}(agent|qga)/` }, to: { path: `${D}(qemu|qmp|host|images|store)/` } },
    { name: 'agent-only-guest-protocol', comment: 'the in-guest agent ships alone: only the zod-free guest protocol', severity: 'error', from: { path: '^packages/agent/' }, to: { path: '^packages/(cli|client|daemon)/|node_modules/zod' } },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/|^packages/cli/bundle/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
