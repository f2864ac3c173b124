import type { Command } from 'commander';

/** The first-boot flags of `lodge create` as commander hands them over. */
export interface FirstBootFlags {
  hostname?: string;
  /** A name, or false for --no-user. */
  user?: string | false;
  sshKey?: string[];
  package?: string[];
  provision?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds the first-boot flags (zod-free: the schemas load only when create runs). */
export function firstBootOptions(cmd: Command): Command {
  return cmd
    .option('--hostname <name>', 'guest hostname (default: the VM name)')
    .option('--user <name>', 'default user: passwordless sudo, your SSH keys (default: your login name; as root $SUDO_USER, else "lodge")')
    .option('--no-user', 'make no default user')
    .option('--ssh-key <file>', 'public key file for the default user (repeatable; replaces the ~/.ssh/*.pub scan)', collect)
    .option('--package <pkg>', 'Debian package to install at first boot (repeatable)', collect)
    .option('--provision <file>', 'script run once as root at first boot (repeatable; named after the file)', collect);
}
