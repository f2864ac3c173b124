import type { Command } from 'commander';
import { formatSize, VM_DEFAULTS, type VmInfo } from '@lodge/api/lite';
import type { CreateFlags } from './create-request.js';
import { forEachName } from './each-name.js';
import { ensureImage } from './image-builder.js';
import { firstBootOptions } from './first-boot-options.js';
import { resourceOptions } from './resource-flags.js';
import type { Session } from './session.js';

const summary = (vm: VmInfo): string =>
  `${vm.spec.image}, ${vm.spec.cpus} CPU${vm.spec.cpus === 1 ? '' : 's'}, ${formatSize(vm.spec.memory)} memory, ${formatSize(vm.spec.disk)} disk, ${vm.spec.machine}`;

const TEMPLATE_HELP = `
Templates (--template) are YAML, close to Lima's; every key is optional (docs/templates.md):
  image: debian-12-dev        # a built image or a built-in recipe (built first when missing)
  cpus: 2
  memory: 2GiB
  disk: 20GiB
  hostname: dev
  packages: [htop]            # installed at first boot
  files:
    - { path: /etc/motd, content: "hello\\n" }
  provision:
    - mode: system            # system (root) or user (the default user); run: once (default) or boot
      script: |
        #!/bin/sh
        echo provisioned >/var/tmp/provisioned
Also: machine, users, user, and the resource keys (cpuPriority, cpuMax, cpuPin, maxCpus, diskIops, diskBps).`;

/** create, pause, resume and delete: quick requests that answer with the VM (or its name). */
export function registerVmCommands(program: Command, session: Session): void {
  const create = program
    .command('create')
    .description('create a VM (building its image first if needed); it stays stopped until `lodge start`')
    .argument('<name>', 'VM name: a lowercase letter, then lowercase letters, digits or "-"')
    .option('--image <name>', `image to boot (default: ${VM_DEFAULTS.image})`)
    .option('--cpus <n>', `virtual CPUs (default: ${VM_DEFAULTS.cpus})`)
    .option('--memory <size>', `memory, e.g. 512M or 2G (default: ${formatSize(VM_DEFAULTS.memory)})`)
    .option('--disk <size>', `disk size, e.g. 4G (default: ${formatSize(VM_DEFAULTS.disk)})`)
    .option('--machine <type>', `q35, pc or microvm (default: ${VM_DEFAULTS.machine})`)
    .option('--template <name|file>', 'start from a template: micro, debian-12, debian-12-desktop-less-dev, or a YAML file; flags override it');
  firstBootOptions(resourceOptions(create, { clearable: false, create: true }))
    .option('--json', 'print the new VM as JSON')
    .addHelpText('after', TEMPLATE_HELP)
    .action(async (name: string, flags: CreateFlags) => {
      const { createRequestFrom } = await import('./create-request.js'); // loads zod only for create
      const { readTemplate } = await import('./vm-template.js');
      const { hostUser } = await import('./host-user.js');
      const template = flags.template === undefined ? undefined : await readTemplate(flags.template);
      const req = createRequestFrom(name, flags, { template, host: hostUser() }); // before any request: bad input never starts the daemon
      const client = await session.connect();
      await ensureImage(client, session, req.image ?? VM_DEFAULTS.image);
      const vm = await client.create(req);
      await session.emit(vm, () => `Created ${vm.name} (${summary(vm)}); start it with: lodge start ${vm.name}`);
    });

  program
    .command('pause')
    .description('freeze a running VM (its vCPUs stop; memory stays)')
    .argument('<name>', 'VM name')
    .option('--json', 'print the VM as JSON')
    .action(async (name: string) => {
      const vm = await (await session.connect()).pause(name);
      await session.emit(vm, () => `Paused ${vm.name}; resume it with: lodge resume ${vm.name}`);
    });

  program
    .command('resume')
    .description('let a paused VM run again')
    .argument('<name>', 'VM name')
    .option('--json', 'print the VM as JSON')
    .action(async (name: string) => {
      const vm = await (await session.connect()).resume(name);
      await session.emit(vm, () => `Resumed ${vm.name}`);
    });

  program
    .command('delete')
    .alias('rm')
    .description('delete stopped VMs and their disks')
    .argument('<names...>', 'VM names')
    .option('--force', 'also delete a VM that runs: its QEMU is killed first')
    .option('--json', 'print {"deleted": NAME} as JSON')
    .action(async (names: string[], flags: { force?: boolean }) => {
      const client = await session.connect();
      await forEachName(session, names, async (name) => {
        const result = await client.delete(name, { force: Boolean(flags.force) });
        session.say(`Deleted ${name}`);
        return result;
      });
    });
}
