import { LodgeError } from '@lodge/api';

/** A cgroup file the kernel refused: the operation and the kernel's reason, and what usually fixes it. */
export function fail(what: string, err: Error): never {
  throw new LodgeError('host_unsupported', `${what}: ${err.message}`, {
    hint: 'lodged applies limits through cgroups: run it as root, or in a delegated cgroup (systemd: Delegate=yes)',
    cause: err,
  });
}
